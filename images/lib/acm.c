// SPDX-License-Identifier: MIT
// Guest wrappers for xsm_op (the ACM policy operations); see moat/acm.h.
#include <moat/acm.h>
#include <moat/hypercall.h>
#include <moat/string.h>

long acm_op(struct acm_op *op, uint32_t cmd)
{
    op->cmd = cmd;
    return HYPERVISOR_xsm_op(op);
}

static void init(struct acm_op *op)
{
    memset(op, 0, sizeof(*op));
    op->interface_version = ACM_INTERFACE_VERSION;
}

long acm_setpolicy(const void *blob, uint32_t size, uint32_t mode, struct acm_violation *errors,
                   uint32_t max_errors, struct acm_setpolicy *out)
{
    struct acm_op op;
    init(&op);
    op.u.setpolicy.buf = (uint64_t)(uintptr_t)blob;
    op.u.setpolicy.size = size;
    op.u.setpolicy.mode = mode;
    op.u.setpolicy.errors = (uint64_t)(uintptr_t)errors;
    op.u.setpolicy.max_errors = max_errors;
    long rc = acm_op(&op, ACMOP_setpolicy);
    if (out)
        *out = op.u.setpolicy; /* the hypervisor writes the counts back even on refusal */
    return rc;
}

long acm_getpolicy(void *buf, uint32_t size, uint32_t *len)
{
    struct acm_op op;
    init(&op);
    op.u.getpolicy.buf = (uint64_t)(uintptr_t)buf;
    op.u.getpolicy.size = size;
    long rc = acm_op(&op, ACMOP_getpolicy);
    if (len)
        *len = op.u.getpolicy.len;
    return rc;
}

static long getssid(uint32_t by, uint32_t id, struct acm_getssid *out)
{
    struct acm_op op;
    init(&op);
    op.u.getssid.get_by = by;
    op.u.getssid.id = id;
    long rc = acm_op(&op, ACMOP_getssid);
    if (out)
        *out = op.u.getssid;
    return rc;
}

long acm_getssid_domain(domid_t domid, struct acm_getssid *out) { return getssid(ACM_GETBY_domainid, domid, out); }

long acm_getssid_ssidref(uint32_t ssidref, struct acm_getssid *out)
{
    return getssid(ACM_GETBY_ssidref, ssidref, out);
}

long acm_getdecision(uint32_t ssidref1, uint32_t ssidref2, uint32_t hook, uint32_t *decision)
{
    struct acm_op op;
    init(&op);
    op.u.getdecision.ssidref1 = ssidref1;
    op.u.getdecision.ssidref2 = ssidref2;
    op.u.getdecision.hook = hook;
    long rc = acm_op(&op, ACMOP_getdecision);
    if (decision)
        *decision = op.u.getdecision.decision;
    return rc;
}

long acm_dumpstats(struct acm_stats *stats)
{
    struct acm_op op;
    init(&op);
    op.u.dumpstats.buf = (uint64_t)(uintptr_t)stats;
    op.u.dumpstats.size = sizeof(*stats);
    return acm_op(&op, ACMOP_dumpstats);
}

long acm_relabel(domid_t domid, uint32_t ssidref, struct acm_relabel *out)
{
    struct acm_op op;
    init(&op);
    op.u.relabel.domid = domid;
    op.u.relabel.ssidref = ssidref;
    long rc = acm_op(&op, ACMOP_relabeldoms);
    if (out)
        *out = op.u.relabel;
    return rc;
}
