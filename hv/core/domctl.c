// SPDX-License-Identifier: MIT
// domctl: create, destroy, pause, unpause and inspect domains, each decided by the MAC hooks.
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/domctl.h>
#include <moat/lib.h>
#include <moat/sched.h>
#include <moat/vcpu.h>
#include <moat/xsm.h>
#include <public/domctl.h>
#include <public/vcpu.h>

static long create(struct domain *subj, struct moat_domctl_create *c)
{
    if (!str_terminated(c->name, sizeof(c->name)) || !str_terminated(c->cmdline, sizeof(c->cmdline)))
        return -XEN_EINVAL;
    if (c->max_vcpus > MOAT_MAX_VCPUS || (c->flags & ~DOMCTL_CREATE_PAUSED))
        return -XEN_EINVAL;
    int rc = xsm_domctl_create(subj, c->ssidref);
    if (rc)
        return rc;
    struct domain_params p = {
        .name = c->name,
        .image_module = c->image,
        .memory_kib = c->memory_kib,
        .ssidref = c->ssidref,
        .flags = 0, /* a created domain never inherits privileges: the policy grants them */
        .expect = EXPECT_ANY,
        .cmdline = c->cmdline,
        .devices = c->devices,
        .vcpus = c->max_vcpus,
        .creator = subj,
    };
    long err;
    struct domain *d = domain_create(&p, &err);
    if (!d)
        return err;
    if (c->flags & DOMCTL_CREATE_PAUSED) /* before it ever ran: its vCPUs can be pinned first */
        sched_set_paused(d, true);
    c->domid = d->domid;
    return 0;
}

static void fill_info(struct domain *d, struct moat_domctl_info *info)
{
    memset(info, 0, sizeof(*info));
    bool blocked = true; /* no vCPU runnable: each waits for an event, or is down */
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        blocked &= d->vcpus[i].state != VCPU_RUNNABLE;
    info->state = d->paused ? DOMSTATE_PAUSED : blocked ? DOMSTATE_BLOCKED : DOMSTATE_RUNNABLE;
    info->ssidref = d->ssidref;
    info->nr_pages = d->nr_pages;
    info->cpu_time_ns = sched_cycles_to_ns(d->cpu_time_cycles);
    strlcpy(info->name, d->name, sizeof(info->name));
}

long do_domctl(uint64_t arg, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct domain *subj = current_domain();
    struct moat_domctl op;
    if (copy_from_guest(&op, arg, sizeof(op)))
        return -XEN_EFAULT;
    if (op.interface_version != MOAT_INTERFACE_VERSION)
        return -XEN_EINVAL;

    long rc = 0;
    if (op.cmd == XEN_DOMCTL_createdomain) {
        rc = create(subj, &op.u.create);
    } else {
        bool reads = op.cmd == XEN_DOMCTL_getdomaininfo || op.cmd == MOAT_DOMCTL_getstats ||
                     op.cmd == MOAT_DOMCTL_getsched || op.cmd == XEN_DOMCTL_getvcpuinfo;
        if (!reads && op.cmd != XEN_DOMCTL_destroydomain && op.cmd != XEN_DOMCTL_pausedomain &&
            op.cmd != XEN_DOMCTL_unpausedomain && op.cmd != MOAT_DOMCTL_setsched &&
            op.cmd != XEN_DOMCTL_setvcpuaffinity)
            return -XEN_ENOSYS;
        bool self = op.domain == DOMID_SELF || op.domain == subj->domid;
        /*
         * The permissions name the target's label, so the target is looked up first; a caller
         * that may not read every label's state gets -EPERM for a free id too, as for a domain
         * it may not touch, so it cannot learn which ids exist (moat/xsm.h).
         */
        struct domain *target = self ? subj : domain_by_id(op.domain);
        if (!target)
            return xsm_no_domain(subj, op.domain, -XEN_EPERM);
        int err = reads ? xsm_read_domain(subj, target) : xsm_domctl(subj, op.cmd, target);
        if (err)
            return err;
        if (self && !reads)
            return -XEN_EINVAL; /* use SCHEDOP_shutdown to stop yourself; no one sets their own share */
        if (op.cmd == XEN_DOMCTL_getdomaininfo)
            fill_info(target, &op.u.info);
        else if (op.cmd == MOAT_DOMCTL_getstats)
            meter_fill(target, &op.u.stats);
        else if (op.cmd == XEN_DOMCTL_getvcpuinfo)
            rc = vcpu_get_info(target, &op.u.vcpu);
        else if (op.cmd == XEN_DOMCTL_setvcpuaffinity)
            return vcpu_set_affinity(target, op.u.vcpu.vcpu, op.u.vcpu.cpu); /* nothing to copy back */
        else if (op.cmd == MOAT_DOMCTL_getsched)
            op.u.sched = (struct moat_domctl_sched){target->share.weight, target->share.cap};
        else if (op.cmd == MOAT_DOMCTL_setsched)
            return share_set(target, op.u.sched.weight, op.u.sched.cap); /* nothing to copy back */
        else if (op.cmd == XEN_DOMCTL_destroydomain)
            domain_destroy(target, OUTCOME_KILLED, "destroyed by domctl");
        else
            sched_set_paused(target, op.cmd == XEN_DOMCTL_pausedomain);
    }
    if (rc == 0 && copy_to_guest(arg, &op, sizeof(op)))
        return -XEN_EFAULT;
    return rc;
}
