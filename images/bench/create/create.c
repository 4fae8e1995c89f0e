// SPDX-License-Identifier: MIT
// Domain creation and destruction, 1 MiB children of the benchchild image (privileged creator):
//   domctl_create                the createdomain hypercall round trip
//   domctl_create_to_first_insn  from the TSC read right before that hypercall to the child's
//                                first instruction: the create, its return, the creator's yield
//                                and the switch into the new domain (printed by each child)
//   domctl_destroy               the destroydomain round trip of a blocked child
// The creator's TSC goes to the child in its command line. Writing it there (hex16) happens
// between the TSC read and the hypercall, so its cost D (measured first, with the same code and
// the timing pair included) is passed along as d=D and subtracted on both sides.
// suffix=S names the creator's two figures domctl_create_S and domctl_destroy_S (the same work
// under another hypervisor option, e.g. a covert-channel mitigation, beside the plain figures).
#include <moat/bench.h>
#include <moat/test.h>

#define WARMUP 2u
#define SAMPLES 16u
#define CHILD_KIB 1024u

static uint64_t create_samples[SAMPLES], destroy_samples[SAMPLES];

// Branch-free and not inlined, so it costs the same instructions wherever it is called.
__attribute__((noinline)) static void hex16(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        out[i] = digits[(v >> (60 - 4 * i)) & 15];
}

static uint64_t hex16_cost(char *slot)
{
    uint64_t d[16];
    for (unsigned i = 0; i < ARRAY_SIZE(d); i++) {
        uint64_t t0 = bench_tsc();
        hex16(slot, t0);
        d[i] = bench_tsc() - t0;
    }
    bench_sort(d, ARRAY_SIZE(d));
    return d[ARRAY_SIZE(d) / 2];
}

static void domctl_op(struct moat_domctl *op, uint32_t cmd, domid_t domid)
{
    memset(op, 0, sizeof(*op));
    op->cmd = cmd;
    op->interface_version = MOAT_INTERFACE_VERSION;
    op->domain = domid;
}

void test_main(void)
{
    int image = find_image("benchchild");
    if (image < 0) {
        xtf_error("Error: the benchchild image is not among the modules\n");
        return;
    }
    bench_overhead();

    struct moat_domctl op;
    char scratch[17] = { 0 };
    uint64_t d = hex16_cost(scratch);

    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        bool warm = i < WARMUP;
        domctl_op(&op, XEN_DOMCTL_createdomain, DOMID_INVALID);
        op.u.create.image = (uint32_t)image;
        op.u.create.memory_kib = CHILD_KIB;
        op.u.create.ssidref = start_info->ssidref;
        strlcpy(op.u.create.name, "bench-child", sizeof(op.u.create.name));
        int len = snprintf(op.u.create.cmdline, sizeof(op.u.create.cmdline),
                           "d=%lu%s t0=0x0000000000000000", (unsigned long)d, warm ? " warm" : "");
        char *slot = op.u.create.cmdline + len - 16;

        uint64_t t0 = bench_tsc();
        hex16(slot, t0);
        long rc = HYPERVISOR_domctl(&op);
        uint64_t t1 = bench_tsc();
        if (rc != 0) {
            xtf_error("Error: createdomain returned %ld\n", rc);
            return;
        }
        domid_t child = op.u.create.domid;
        sched_yield();  // the child runs its first instructions, prints, and blocks

        struct moat_domctl_info info;
        long irc = domctl_getinfo(child, &info);
        if (irc != 0 || info.state != DOMSTATE_BLOCKED) {
            xtf_error("Error: child %u did not run and block (getinfo %ld, state %u)\n", child,
                      irc, irc == 0 ? info.state : 0);
            return;
        }

        domctl_op(&op, XEN_DOMCTL_destroydomain, child);
        uint64_t t2 = bench_tsc();
        rc = HYPERVISOR_domctl(&op);
        uint64_t t3 = bench_tsc();
        if (rc != 0) {
            xtf_error("Error: destroydomain(%u) returned %ld\n", child, rc);
            return;
        }
        if (!warm) {
            create_samples[i - WARMUP] = t1 - t0 > d ? t1 - t0 - d : 0;
            destroy_samples[i - WARMUP] = bench_net(t3 - t2);
        }
    }
    char suffix[24] = "", name[48];
    if (cmdline_get("suffix", suffix, sizeof(suffix)))
        snprintf(name, sizeof(name), "domctl_create_%s", suffix);
    bench_report(suffix[0] ? name : "domctl_create", create_samples, SAMPLES, "instructions");
    if (suffix[0])
        snprintf(name, sizeof(name), "domctl_destroy_%s", suffix);
    bench_report(suffix[0] ? name : "domctl_destroy", destroy_samples, SAMPLES, "instructions");
    xtf_success(NULL);
}
