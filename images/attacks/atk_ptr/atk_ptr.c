// SPDX-License-Identifier: MIT
// Hypercall arguments that point where a guest may not reach, and out-of-range numbers: the
// hypervisor must answer with an error code (never touch its own memory for a guest, never
// crash), whatever the pointer. Label admin (read_state, load_policy), so that the policy ops
// get past their permission check and reach their copies.
#include <moat/acm.h>
#include <moat/gnttab.h>

#include "../common/attack.h"

#define HV_TEXT 0xffffffff80100000ull
#define DIRECT_MAP 0xffff800000100000ull
#define NONCANONICAL 0x8000000000000000ull

static const struct moat_domctl readonly_op = {.cmd = XEN_DOMCTL_getdomaininfo,
                                               .interface_version = MOAT_INTERFACE_VERSION,
                                               .domain = DOMID_SELF};

static long acm(uint32_t cmd, uint64_t buf, uint32_t size)
{
    struct acm_op op;
    memset(&op, 0, sizeof(op));
    op.cmd = cmd;
    op.interface_version = ACM_INTERFACE_VERSION;
    if (cmd == ACMOP_getpolicy) {
        op.u.getpolicy.buf = buf;
        op.u.getpolicy.size = size;
    } else if (cmd == ACMOP_dumpstats) {
        op.u.dumpstats.buf = buf;
        op.u.dumpstats.size = size;
    } else {
        op.u.setpolicy.buf = buf;
        op.u.setpolicy.size = size;
        op.u.setpolicy.mode = ACM_MODE_REFUSE;
    }
    return HYPERVISOR_xsm_op(&op);
}

static void console_ptrs(void)
{
    expect_rc("ptr-console-hv-text", HYPERVISOR_console_io(CONSOLEIO_write, 16, (const char *)HV_TEXT), -XEN_EFAULT);
    expect_rc("ptr-console-direct-map", HYPERVISOR_console_io(CONSOLEIO_write, 16, (const char *)DIRECT_MAP),
              -XEN_EFAULT);
    expect_rc("ptr-console-noncanonical", HYPERVISOR_console_io(CONSOLEIO_write, 16, (const char *)NONCANONICAL),
              -XEN_EFAULT);
    /* A buffer that starts in user space and runs across the top of the user half. */
    expect_rc("ptr-console-across-the-limit",
              HYPERVISOR_console_io(CONSOLEIO_write, 0x1000, (const char *)(GUEST_VA_LIMIT - 0x800)), -XEN_EFAULT);
    expect_rc("ptr-console-wrapping", HYPERVISOR_console_io(CONSOLEIO_write, 0x1000, (const char *)UINT64_MAX),
              -XEN_EFAULT);
    expect_rc("ptr-console-huge-count", HYPERVISOR_console_io(CONSOLEIO_write, 1ul << 40, "x"), -XEN_EINVAL);
}

static void output_ptrs(void)
{
    /* Results written into read-only memory (our own .rodata) and into the hypervisor. */
    long rc = HYPERVISOR_domctl((struct moat_domctl *)&readonly_op);
    verdict("ptr-output-readonly", rc == -XEN_EFAULT && readonly_op.u.info.nr_pages == 0,
            "getdomaininfo into .rodata: %ld, nr_pages %lu", rc, (unsigned long)readonly_op.u.info.nr_pages);
    expect_rc("ptr-domctl-hv", HYPERVISOR_domctl((struct moat_domctl *)HV_TEXT), -XEN_EFAULT);
    expect_rc("ptr-grant-batch-hv", HYPERVISOR_grant_table_op(GNTTABOP_copy, (void *)DIRECT_MAP, 1), -XEN_EFAULT);
    struct gnttab_setup_table s = {.dom = DOMID_SELF, .nr_frames = 1, .frame_list = HV_TEXT};
    long r2 = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1);
    verdict("ptr-grant-frame-list-hv", r2 == 0 && s.status == GNTST_bad_virt_addr, "setup_table: %ld/%d", r2,
            s.status);
    evtchn_port_t ports[1] = {1};
    struct sched_poll p = {.ports = HV_TEXT, .nr_ports = 1};
    expect_rc("ptr-poll-ports-hv", HYPERVISOR_sched_op(SCHEDOP_poll, &p), -XEN_EFAULT);
    p.ports = (uint64_t)(uintptr_t)ports;
    p.nr_ports = 1u << 20;
    expect_rc("ptr-poll-too-many-ports", HYPERVISOR_sched_op(SCHEDOP_poll, &p), -XEN_EINVAL);
    expect_rc("ptr-getpolicy-into-hv", acm(ACMOP_getpolicy, HV_TEXT, 1u << 20), -XEN_EFAULT);
    expect_rc("ptr-dumpstats-into-hv", acm(ACMOP_dumpstats, DIRECT_MAP, 4096), -XEN_EFAULT);
    expect_rc("ptr-setpolicy-from-hv", acm(ACMOP_setpolicy, HV_TEXT, 4096), -XEN_EFAULT);
    expect_rc("ptr-setpolicy-too-big", acm(ACMOP_setpolicy, GUEST_RAM_VA, ACM_MAX_SETPOLICY_SIZE + 1), -XEN_E2BIG);
}

static void numbers_and_frames(void)
{
    static const uint64_t numbers[] = {MOAT_NR_HYPERCALLS, 63, 64, 255, 1ull << 32, 1ull << 63, UINT64_MAX};
    bool all = true;
    for (unsigned i = 0; i < ARRAY_SIZE(numbers); i++)
        all &= hypercall0(numbers[i]) == -XEN_ENOSYS;
    verdict("hypercall-number-range", all, "an out-of-range hypercall number did not answer -ENOSYS");
    static const struct {
        const char *name;
        uint64_t rip, rsp;
    } frames[] = {
        {"iret-noncanonical-rip", 0x0000800000000000ull, GUEST_RAM_VA + 0x1000},
        {"iret-hv-rip", HV_TEXT, GUEST_RAM_VA + 0x1000},
        {"iret-hv-stack", GUEST_RAM_VA, DIRECT_MAP},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(frames); i++) {
        struct upcall_frame f;
        memset(&f, 0, sizeof(f));
        f.rip = frames[i].rip;
        f.rsp = frames[i].rsp;
        f.rflags = 0x202;
        expect_rc(frames[i].name, HYPERVISOR_iret(&f), -XEN_EINVAL);
    }
    expect_rc("iret-frame-in-hv", HYPERVISOR_iret((struct upcall_frame *)HV_TEXT), -XEN_EFAULT);
    expect_rc("callback-in-hv", HYPERVISOR_set_callbacks(HV_TEXT, 0), -XEN_EINVAL);
    expect_rc("callback-below-ram", HYPERVISOR_set_callbacks(0x1000, 0), -XEN_EINVAL);
}

int main(const struct start_info *si)
{
    (void)si;
    console_ptrs();
    output_ptrs();
    numbers_and_frames();
    return 0;
}
