// SPDX-License-Identifier: MIT
// Hypercall helpers that need a structure in memory.
#include <moat/guest.h>

long sched_shutdown(unsigned int reason)
{
    struct sched_shutdown arg = { .reason = reason };
    return HYPERVISOR_sched_op(SCHEDOP_shutdown, &arg);
}

long sched_poll(evtchn_port_t *ports, unsigned int nr_ports, uint64_t timeout_ns)
{
    struct sched_poll arg = { .ports = (uint64_t)(unsigned long)ports, .nr_ports = nr_ports,
                              .timeout = timeout_ns };
    return HYPERVISOR_sched_op(SCHEDOP_poll, &arg);
}

long memory_current_reservation(void)
{
    domid_t self = DOMID_SELF;
    return HYPERVISOR_memory_op(XENMEM_current_reservation, &self);
}

static void domctl_init(struct moat_domctl *op, uint32_t cmd, domid_t domid)
{
    memset(op, 0, sizeof(*op));
    op->cmd = cmd;
    op->interface_version = MOAT_INTERFACE_VERSION;
    op->domain = domid;
}

long domctl_create(const struct domctl_create_args *args, domid_t *domid)
{
    struct moat_domctl op;
    long rc;

    domctl_init(&op, XEN_DOMCTL_createdomain, DOMID_INVALID);
    op.u.create.image = args->image;
    op.u.create.memory_kib = args->memory_kib;
    op.u.create.ssidref = args->ssidref;
    op.u.create.devices = args->devices;
    op.u.create.flags = args->flags;
    op.u.create.max_vcpus = args->max_vcpus;
    if (args->name)
        strlcpy(op.u.create.name, args->name, sizeof(op.u.create.name));
    if (args->cmdline)
        strlcpy(op.u.create.cmdline, args->cmdline, sizeof(op.u.create.cmdline));
    rc = HYPERVISOR_domctl(&op);
    if (rc == 0 && domid)
        *domid = op.u.create.domid;
    return rc;
}

static long domctl_simple(uint32_t cmd, domid_t domid)
{
    struct moat_domctl op;

    domctl_init(&op, cmd, domid);
    return HYPERVISOR_domctl(&op);
}

long domctl_destroy(domid_t domid)
{
    return domctl_simple(XEN_DOMCTL_destroydomain, domid);
}

long domctl_pause(domid_t domid)
{
    return domctl_simple(XEN_DOMCTL_pausedomain, domid);
}

long domctl_unpause(domid_t domid)
{
    return domctl_simple(XEN_DOMCTL_unpausedomain, domid);
}

long domctl_getstats(domid_t domid, struct moat_domain_stats *stats)
{
    struct moat_domctl op;
    long rc;

    domctl_init(&op, MOAT_DOMCTL_getstats, domid);
    rc = HYPERVISOR_domctl(&op);
    if (rc == 0)
        *stats = op.u.stats;
    return rc;
}

long domctl_getsched(domid_t domid, struct moat_domctl_sched *sched)
{
    struct moat_domctl op;
    long rc;

    domctl_init(&op, MOAT_DOMCTL_getsched, domid);
    rc = HYPERVISOR_domctl(&op);
    if (rc == 0)
        *sched = op.u.sched;
    return rc;
}

long domctl_setvcpuaffinity(domid_t domid, uint32_t vcpu, uint32_t cpu)
{
    struct moat_domctl op;

    domctl_init(&op, XEN_DOMCTL_setvcpuaffinity, domid);
    op.u.vcpu.vcpu = vcpu;
    op.u.vcpu.cpu = cpu;
    return HYPERVISOR_domctl(&op);
}

long domctl_setsched(domid_t domid, uint32_t weight, uint32_t cap)
{
    struct moat_domctl op;

    domctl_init(&op, MOAT_DOMCTL_setsched, domid);
    op.u.sched.weight = weight;
    op.u.sched.cap = cap;
    return HYPERVISOR_domctl(&op);
}

long domctl_getvcpuinfo(domid_t domid, uint32_t vcpu, struct moat_domctl_vcpu *info)
{
    struct moat_domctl op;
    long rc;

    domctl_init(&op, XEN_DOMCTL_getvcpuinfo, domid);
    op.u.vcpu.vcpu = vcpu;
    rc = HYPERVISOR_domctl(&op);
    if (rc == 0)
        *info = op.u.vcpu;
    return rc;
}

long domctl_getinfo(domid_t domid, struct moat_domctl_info *info)
{
    struct moat_domctl op;
    long rc;

    domctl_init(&op, XEN_DOMCTL_getdomaininfo, domid);
    rc = HYPERVISOR_domctl(&op);
    if (rc == 0)
        *info = op.u.info;
    return rc;
}

long domctl_find(const char *name)
{
    struct moat_domctl_info info;
    for (domid_t d = 0; d < MOAT_MAX_DOMAINS; d++)
        if (d != start_info->domid && domctl_getinfo(d, &info) == 0 && strcmp(info.name, name) == 0)
            return d;
    return -1;
}
