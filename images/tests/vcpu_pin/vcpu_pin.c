// SPDX-License-Identifier: MIT
// A management domain makes a domain with several vCPUs through domctl (tests/vcpu/): created
// paused with max_vcpus = 4, each vCPU pinned to a CPU of its own (setvcpuaffinity: vCPU k on CPU
// k + 1 mod cpus, the down ones as well as vCPU 0), then unpaused; while the child
// (images/tests/vcpu_ring) brings its vCPUs up and passes events round them, getvcpuinfo must
// find every vCPU that is up on its own CPU. Then the error paths: too many vCPUs, unknown flags,
// a vCPU the domain does not have, a CPU that is not online, a running vCPU, oneself; and, paused
// again, vCPU 0 moved to another CPU, unpinned, pinned where it is and sent home.
// `partitioned=1` (under sched=partition): every setvcpuaffinity is refused (the partitions run
// on the boot CPU only), a down vCPU's of a paused domain too; then it ends.
#include <moat/guest.h>
#include <moat/test.h>
#include <public/domctl.h>

static long domctl(uint32_t cmd, domid_t dom, struct moat_domctl *op)
{
    op->cmd = cmd;
    op->interface_version = MOAT_INTERFACE_VERSION;
    op->domain = dom;
    return HYPERVISOR_domctl(op);
}

static long create(uint16_t max_vcpus, uint32_t flags, domid_t *domid)
{
    struct moat_domctl op;
    memset(&op, 0, sizeof(op));
    op.u.create.image = (uint32_t)find_image("vcpu_ring");
    op.u.create.memory_kib = 2048;
    op.u.create.ssidref = start_info->ssidref;
    op.u.create.flags = flags;
    op.u.create.max_vcpus = max_vcpus;
    strlcpy(op.u.create.name, "ring", sizeof(op.u.create.name));
    strlcpy(op.u.create.cmdline, "vcpus=4", sizeof(op.u.create.cmdline));
    long rc = domctl(XEN_DOMCTL_createdomain, DOMID_INVALID, &op);
    *domid = op.u.create.domid;
    return rc;
}

static long pin(domid_t d, uint32_t vcpu, uint32_t cpu) { return domctl_setvcpuaffinity(d, vcpu, cpu); }

/* A paused domain's vCPU may still be finishing a hypercall on its CPU (it leaves at the way out):
 * -XEN_EBUSY until then, briefly. */
static long pin_paused(domid_t d, uint32_t vcpu, uint32_t cpu)
{
    long rc = pin(d, vcpu, cpu);
    for (unsigned i = 0; rc == -XEN_EBUSY && i < 1000; i++) {
        sleep_ns(NS_PER_MS);
        rc = pin(d, vcpu, cpu);
    }
    return rc;
}

static long vcpu_info(domid_t d, uint32_t vcpu, struct moat_domctl_vcpu *info)
{
    struct moat_domctl op;
    memset(&op, 0, sizeof(op));
    op.u.vcpu.vcpu = vcpu;
    long rc = domctl(XEN_DOMCTL_getvcpuinfo, d, &op);
    *info = op.u.vcpu;
    return rc;
}

void test_main(void)
{
    unsigned cpus = (unsigned)cmdline_ulong("cpus", 4), nv = 4;
    domid_t d;
    struct moat_domctl_vcpu vi;
    xtf_check_eq(create(MOAT_MAX_VCPUS + 1, DOMCTL_CREATE_PAUSED, &d), -XEN_EINVAL);
    xtf_check_eq(create(4, 1u << 7, &d), -XEN_EINVAL);
    xtf_assert(create((uint16_t)nv, DOMCTL_CREATE_PAUSED, &d) == 0, "creating a domain with %u vCPUs", nv);
    if (cmdline_ulong("partitioned", 0)) {
        xtf_check_eq(pin(d, 0, 0), -XEN_EBUSY);
        xtf_check_eq(pin(d, 1, 0), -XEN_EBUSY);
        xtf_check_eq(pin(d, 1, MOAT_CPU_ANY), -XEN_EBUSY);
        xtf_check_eq(domctl_destroy(d), 0);
        if (xtf_result() == XTF_RUNNING)
            xtf_success(NULL);
        return;
    }

    // Created paused: vCPU 0 up (not running), the others down until the guest starts them.
    for (uint32_t v = 0; v < nv; v++) {
        xtf_check_eq(vcpu_info(d, v, &vi), 0);
        xtf_check(vi.online == (v == 0) && !vi.pinned, "vcpu %u: online %u pinned %u", v, vi.online, vi.pinned);
    }
    xtf_check_eq(vcpu_info(d, nv, &vi), -XEN_EINVAL);
    xtf_check_eq(pin(d, nv, 0), -XEN_EINVAL);
    xtf_check_eq(pin(d, 1, 99), -XEN_EINVAL);
    xtf_check_eq(pin(d, 1, cpus), -XEN_EINVAL); // one past the last online CPU
    xtf_check_eq(pin(DOMID_SELF, 0, 0), -XEN_EINVAL);
    xtf_check_eq(pin(d, 0, 0), 0);
    xtf_check_eq(pin(d, 0, MOAT_CPU_ANY), 0); // unpinned again
    xtf_check_eq(vcpu_info(d, 0, &vi), 0);
    xtf_check(!vi.pinned, "vcpu 0 still pinned after MOAT_CPU_ANY");
    // A down vCPU pinned and then unpinned has no CPU until it comes up (the scheduler places it
    // then): getvcpuinfo says CPU 0, not the CPU it was pinned to (sched_vcpu_pin).
    xtf_check_eq(pin(d, 1, 1 % cpus), 0);
    xtf_check_eq(pin(d, 1, MOAT_CPU_ANY), 0);
    xtf_check_eq(vcpu_info(d, 1, &vi), 0);
    xtf_check(!vi.online && !vi.pinned && vi.cpu == 0, "down vcpu 1 unpinned: online %u pinned %u cpu %u", vi.online,
              vi.pinned, vi.cpu);
    for (uint32_t v = 0; v < nv; v++)
        xtf_check_eq(pin(d, v, (v + 1) % cpus), 0);
    xtf_check_eq(vcpu_info(d, 0, &vi), 0);
    xtf_check(vi.pinned && vi.cpu == 1 % cpus, "vcpu 0: pinned %u cpu %u", vi.pinned, vi.cpu);
    xtf_check_eq(domctl_unpause(d), 0);
    xtf_check_eq(pin(d, 0, 2 % cpus), -XEN_EBUSY); // it runs (or may): pause it first

    // Paused, an up vCPU may move: to another CPU (its home moves), unpinned (it stays where it
    // is), to the CPU it is on (nothing to move), and back home before it runs again.
    xtf_check_eq(domctl_pause(d), 0);
    xtf_check_eq(pin_paused(d, 0, 2 % cpus), 0);
    xtf_check_eq(vcpu_info(d, 0, &vi), 0);
    xtf_check(vi.pinned && vi.cpu == 2 % cpus, "vcpu 0 after the move: pinned %u cpu %u", vi.pinned, vi.cpu);
    xtf_check_eq(pin_paused(d, 0, MOAT_CPU_ANY), 0);
    xtf_check_eq(vcpu_info(d, 0, &vi), 0);
    xtf_check(!vi.pinned && vi.cpu == 2 % cpus, "vcpu 0 unpinned: pinned %u cpu %u", vi.pinned, vi.cpu);
    xtf_check_eq(pin_paused(d, 0, 2 % cpus), 0);
    xtf_check_eq(pin_paused(d, 0, 1 % cpus), 0);
    xtf_check_eq(vcpu_info(d, 0, &vi), 0);
    xtf_check(vi.pinned && vi.cpu == 1 % cpus, "vcpu 0 back home: pinned %u cpu %u", vi.pinned, vi.cpu);
    xtf_check_eq(domctl_unpause(d), 0);

    // Watch it until it ends: every vCPU that is up is on its own CPU.
    unsigned samples = 0, all_up = 0, wrong = 0;
    struct moat_domctl_info info;
    uint64_t deadline = now_ns() + 60 * NS_PER_SEC;
    while (domctl_getinfo(d, &info) == 0 && now_ns() < deadline) {
        unsigned up = 0;
        for (uint32_t v = 0; v < nv; v++) {
            if (vcpu_info(d, v, &vi) != 0)
                break;
            up += vi.online;
            if (vi.online && (!vi.pinned || vi.cpu != (v + 1) % cpus) && wrong++ < 5)
                printf("vcpu %u up on cpu %u (pinned %u), not on cpu %u\n", v, vi.cpu, vi.pinned, (v + 1) % cpus);
        }
        samples++;
        all_up += up == nv;
        sleep_ns(NS_PER_MS);
    }
    printf("pinned vcpus: %u samples, %u with all %u up, %u on a wrong cpu\n", samples, all_up, nv, wrong);
    xtf_check_eq(domctl_getinfo(d, &info), -XEN_ESRCH);
    xtf_check(all_up > 0 && wrong == 0, "all up in %u samples, %u wrong", all_up, wrong);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
