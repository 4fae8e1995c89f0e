// SPDX-License-Identifier: MIT
// Hypercall dispatch: one bounds-checked table from number to handler. Unknown numbers: -ENOSYS.
#include <moat/arch.h>
#include <moat/console_io.h>
#include <moat/domain.h>
#include <moat/domctl.h>
#include <moat/event_channel.h>
#include <moat/hclog.h>
#include <moat/hypercall.h>
#include <moat/hvlock.h>
#include <moat/measure.h>
#include <moat/nospec.h>
#include <moat/sched.h>
#include <moat/vcpu.h>
#include <moat/selftest.h>
#include <moat/xsm.h>
#include <public/hv.h>
#include <public/measure.h>

typedef long (*hypercall_fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

static long do_xen_version(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)arg, (void)a3, (void)a4, (void)a5;
    switch (cmd) {
    case XENVER_version:
        /* cppcheck-suppress badBitmaskCheck ; (major << 16) | minor, with major 0 written out */
        return (0 << 16) | 1;
    case XENVER_get_features:
        return MOAT_FEAT_EVTCHN | MOAT_FEAT_GNTTAB | MOAT_FEAT_MAC;
    default:
        return -XEN_ENOSYS;
    }
}

static long do_memory_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a3, (void)a4, (void)a5;
    if (cmd != XENMEM_current_reservation && cmd != XENMEM_maximum_reservation)
        return -XEN_ENOSYS;
    domid_t id;
    if (copy_from_guest(&id, arg, sizeof(id)))
        return -XEN_EFAULT;
    struct domain *self = current_domain();
    struct domain *d = id == DOMID_SELF ? self : domain_by_id(id);
    if (!d)
        return xsm_no_domain(self, id, -XEN_EPERM);
    int rc = xsm_read_domain(self, d);
    if (rc)
        return rc;
    return (long)d->nr_pages;
}

/* A number no handler has. */
static long do_ni_hypercall(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    return -XEN_ENOSYS;
}

/*
 * Indexed by the syscall entry's fast path as well (syscall.S), with the same bound and mask.
 * Every slot holds a handler, do_ni_hypercall where none is assigned, so that a dispatch is one
 * indirect call without a NULL test. The range initialiser comes first and the assigned numbers
 * override it, which is what -Woverride-init would warn about.
 */
extern const hypercall_fn hypercall_table[MOAT_NR_HYPERCALLS];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
const hypercall_fn hypercall_table[MOAT_NR_HYPERCALLS] = {
    [0 ... MOAT_NR_HYPERCALLS - 1] = do_ni_hypercall,
    [__HYPERVISOR_set_callbacks] = do_set_callbacks,
    [__HYPERVISOR_memory_op] = do_memory_op,
    [__HYPERVISOR_set_timer_op] = do_set_timer_op,
    [__HYPERVISOR_xen_version] = do_xen_version,
    [__HYPERVISOR_console_io] = do_console_io,
    [__HYPERVISOR_iret] = do_iret,
    [__HYPERVISOR_vcpu_op] = do_vcpu_op,
    [__HYPERVISOR_sched_op] = do_sched_op,
    [__HYPERVISOR_event_channel_op] = do_event_channel_op,
    [__HYPERVISOR_domctl] = do_domctl,
    [__HYPERVISOR_grant_table_op] = do_grant_table_op,
    [__HYPERVISOR_xsm_op] = do_xsm_op,
    [__HYPERVISOR_measure_op] = do_measure_op,
};
#pragma GCC diagnostic pop

void hypercall_entry(struct cpu_regs *regs)
{
    selftest_entry_check(regs);
    lock_check_acquire(LOCK_HV);
    /* Another CPU may have destroyed the caller while this one waited for the lock. */
    if (hv_lock_smp && !hv_lock_enter_hypercall(regs))
        exit_to_guest();
    struct domain *d = current_domain();
    struct hypercall_args a = arch_hypercall_args(regs);
    long ret = -XEN_ENOSYS;
    if (a.nr < MOAT_NR_HYPERCALLS) {
        uint64_t nr = array_index_nospec(a.nr, MOAT_NR_HYPERCALLS);
        d->meter.hypercalls[nr]++; /* metering: one increment, no lock (moat/meter.h) */
        ret = hypercall_table[nr](a.arg[0], a.arg[1], a.arg[2], a.arg[3], a.arg[4]);
    }
    hclog_result(d, &a, ret);
    /* The caller may have shut itself down; its registers then no longer matter. */
    if (d->state == DOM_RUNNABLE)
        arch_hypercall_return(regs, ret);
    exit_to_guest_general(); /* the scheduler decides (the C path: never the plain switch) */
}

bool hypercall_fast;

void hypercall_fast_init(bool one_cpu)
{
#ifdef CONFIG_SELFTEST
    /* The debug build checks every entry (flags, lock ranks) and may log every hypercall: C only. */
    (void)one_cpu;
#else
    hypercall_fast = one_cpu;
#endif
    /* With one CPU this is the only CPU: the choice is made where every syscall will enter. (Other
     * CPUs choose by hypercall_fast when they come up, and it is false whenever they exist.) */
    arch_hypercall_entry_select();
}
