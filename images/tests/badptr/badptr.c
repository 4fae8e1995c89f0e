// SPDX-License-Identifier: MIT
// Every pointer-taking hypercall given a bad pointer or length must fail with an error and leave
// the guest running: NULL, the hypervisor's half, unmapped addresses, ranges straddling the end
// of RAM or of the user half, wrap-around, huge lengths, and output into read-only memory.
// Runs as a privileged domain so domctl gets past the permission check and reads its argument.
#include <moat/acm.h>
#include <moat/test.h>

static unsigned long nr_calls;

static bool is_error(long rc)
{
    return rc == -XEN_EFAULT || rc == -XEN_EINVAL;
}

#define EXPECT_ERROR(call, what)                                                               \
    do {                                                                                       \
        long rc_ = (call);                                                                     \
        nr_calls++;                                                                            \
        xtf_check(is_error(rc_), "%s: %s returned %ld, expected -EFAULT or -EINVAL", what,     \
                  #call, rc_);                                                                 \
    } while (0)

struct bad {
    const char *what;
    uint64_t addr;
};

static struct bad bads[16];
static unsigned nr_bads;

static void add_bad(const char *what, uint64_t addr)
{
    bads[nr_bads++] = (struct bad){ what, addr };
}

static void collect_bad_addresses(void)
{
    uint64_t ram_end = start_info->ram_va + start_info->nr_pages * GUEST_PAGE_SIZE;
    uint64_t guard = ram_end - (GUEST_STACK_PAGES + 1) * GUEST_PAGE_SIZE;

    add_bad("NULL", 0);
    add_bad("unmapped below RAM", 0x200000);
    add_bad("hypervisor image", 0xffffffff80100000ULL);
    add_bad("upper-half start", 0xffff800000000000ULL);
    add_bad("non-canonical", 0x0000900000000000ULL);
    // One byte before the end: straddles for every argument of 2 bytes or more (domid_t).
    add_bad("straddles GUEST_VA_LIMIT", GUEST_VA_LIMIT - 1);
    add_bad("straddles the end of RAM", ram_end - 1);
    add_bad("just past RAM", ram_end);
    add_bad("stack guard page", guard);
    add_bad("wraps around", 0xfffffffffffffffcULL);
}

static void check_console_io(void)
{
    static const char msg[] = "this line must not appear\n";
    uint64_t ram_end = start_info->ram_va + start_info->nr_pages * GUEST_PAGE_SIZE;

    for (unsigned i = 0; i < nr_bads; i++)
        EXPECT_ERROR(HYPERVISOR_console_io(CONSOLEIO_write, 16, (const char *)bads[i].addr),
                     bads[i].what);
    // Huge lengths from a valid buffer: bounded by CONSOLEIO_MAX or by the end of RAM.
    EXPECT_ERROR(HYPERVISOR_console_io(CONSOLEIO_write, CONSOLEIO_MAX + 1, msg), "over CONSOLEIO_MAX");
    EXPECT_ERROR(HYPERVISOR_console_io(CONSOLEIO_write, 1UL << 32, msg), "4 GiB");
    EXPECT_ERROR(HYPERVISOR_console_io(CONSOLEIO_write, ~0UL, msg), "~0");
    EXPECT_ERROR(HYPERVISOR_console_io(CONSOLEIO_write, 1UL << 63, msg), "2^63");
    EXPECT_ERROR(HYPERVISOR_console_io(CONSOLEIO_write, 64, (const char *)(ram_end - 32)),
                 "buffer runs off the end of RAM");
    long rc = HYPERVISOR_console_io(77, sizeof(msg) - 1, msg);
    nr_calls++;
    xtf_check(rc == -XEN_ENOSYS || rc == -XEN_EINVAL, "console_io(77) returned %ld", rc);
}

static void check_sched_op(void)
{
    for (unsigned i = 0; i < nr_bads; i++) {
        // A bad shutdown argument must fail, not shut the domain down.
        EXPECT_ERROR(HYPERVISOR_sched_op(SCHEDOP_shutdown, (void *)bads[i].addr), bads[i].what);
        EXPECT_ERROR(HYPERVISOR_sched_op(SCHEDOP_poll, (void *)bads[i].addr), bads[i].what);
        // A valid poll structure whose port array is bad.
        struct sched_poll poll = { .ports = bads[i].addr, .nr_ports = 1,
                                   .timeout = now_ns() + NS_PER_MS };
        EXPECT_ERROR(HYPERVISOR_sched_op(SCHEDOP_poll, &poll), bads[i].what);
    }
    evtchn_port_t port = 0;
    struct sched_poll poll = { .ports = (uint64_t)(uintptr_t)&port, .nr_ports = 0xffffffffU,
                               .timeout = now_ns() + NS_PER_MS };
    EXPECT_ERROR(HYPERVISOR_sched_op(SCHEDOP_poll, &poll), "nr_ports 2^32-1");
    poll.nr_ports = SCHED_POLL_MAX_PORTS + 1;
    EXPECT_ERROR(HYPERVISOR_sched_op(SCHEDOP_poll, &poll), "nr_ports over SCHED_POLL_MAX_PORTS");
    struct sched_shutdown bad_reason = { .reason = 77 };
    EXPECT_ERROR(HYPERVISOR_sched_op(SCHEDOP_shutdown, &bad_reason), "shutdown reason 77");
    long rc = HYPERVISOR_sched_op(77, NULL);
    nr_calls++;
    xtf_check(rc == -XEN_ENOSYS || rc == -XEN_EINVAL, "sched_op(77) returned %ld", rc);
}

static void check_memory_op(void)
{
    for (unsigned i = 0; i < nr_bads; i++) {
        EXPECT_ERROR(HYPERVISOR_memory_op(XENMEM_current_reservation, (void *)bads[i].addr),
                     bads[i].what);
        EXPECT_ERROR(HYPERVISOR_memory_op(XENMEM_maximum_reservation, (void *)bads[i].addr),
                     bads[i].what);
    }
}

// In .rodata: the hypervisor must not write a result here (getinfo copies out).
static const struct moat_domctl readonly_getinfo = {
    .cmd = XEN_DOMCTL_getdomaininfo,
    .interface_version = MOAT_INTERFACE_VERSION,
    .domain = 0,
};

static void check_domctl(void)
{
    struct moat_domctl op;

    for (unsigned i = 0; i < nr_bads; i++)
        EXPECT_ERROR(HYPERVISOR_domctl((struct moat_domctl *)bads[i].addr), bads[i].what);

    memset(&op, 0, sizeof(op));
    op.cmd = XEN_DOMCTL_getdomaininfo;
    op.interface_version = MOAT_INTERFACE_VERSION + 1;
    op.domain = start_info->domid;
    EXPECT_ERROR(HYPERVISOR_domctl(&op), "wrong interface_version");

    long rc = HYPERVISOR_domctl((struct moat_domctl *)&readonly_getinfo);
    nr_calls++;
    xtf_check(rc == -XEN_EFAULT, "getinfo into read-only memory returned %ld, expected -EFAULT", rc);
    xtf_check(readonly_getinfo.u.info.nr_pages == 0, "the hypervisor wrote into .rodata");

    // The start-info page is mapped read-only too.
    rc = HYPERVISOR_domctl((struct moat_domctl *)start_info);
    nr_calls++;
    xtf_check(rc < 0, "domctl on the start-info page returned %ld", rc);

    struct domctl_create_args args = { .image = 999, .memory_kib = 256, .name = "bad",
                                       .ssidref = start_info->ssidref };  // a label it may create
    domid_t domid;
    EXPECT_ERROR(domctl_create(&args, &domid), "image 999");
    args.image = (uint32_t)find_image("badptr");
    args.memory_kib = 258;
    EXPECT_ERROR(domctl_create(&args, &domid), "memory not a multiple of 4 KiB");
    args.memory_kib = 0;
    EXPECT_ERROR(domctl_create(&args, &domid), "no memory");
    args.image = 0;  // the manifest: not an ELF
    args.memory_kib = 256;
    EXPECT_ERROR(domctl_create(&args, &domid), "image is the manifest");
}

// Output-only buffers, never read first: the first access to each is the hypervisor's write.
static void check_xsm_op(void)
{
    for (unsigned i = 0; i < nr_bads; i++) {
        uint32_t len = 0;
        EXPECT_ERROR(acm_getpolicy((void *)bads[i].addr, 1u << 20, &len), bads[i].what);
    }
    uint32_t len = 0;
    long rc = acm_getpolicy((void *)&readonly_getinfo, sizeof(readonly_getinfo), &len);
    nr_calls++;
    // Too small for the policy (-ENOSPC, nothing written), or -EFAULT: never a write to .rodata.
    xtf_check(rc == -XEN_ENOSPC || rc == -XEN_EFAULT, "getpolicy into read-only memory returned %ld", rc);
    xtf_check(readonly_getinfo.u.info.nr_pages == 0, "the hypervisor wrote a policy into .rodata");
}

static void check_set_callbacks(void)
{
    EXPECT_ERROR(HYPERVISOR_set_callbacks(0xffffffff80100000ULL, 0), "callback in the hypervisor");
    EXPECT_ERROR(HYPERVISOR_set_callbacks(0x0000900000000000ULL, 0), "non-canonical callback");
    EXPECT_ERROR(HYPERVISOR_set_callbacks(0x200000, 0), "callback below RAM");
}

void test_main(void)
{
    collect_bad_addresses();
    check_console_io();
    printf("console_io: %lu bad calls refused\n", nr_calls);
    check_sched_op();
    printf("sched_op: %lu bad calls refused\n", nr_calls);
    check_memory_op();
    printf("memory_op: %lu bad calls refused\n", nr_calls);
    check_domctl();
    printf("domctl: %lu bad calls refused\n", nr_calls);
    check_xsm_op();
    printf("xsm_op: %lu bad calls refused\n", nr_calls);
    check_set_callbacks();
    printf("survived %lu bad hypercalls\n", nr_calls);
    xtf_success(NULL);
}
