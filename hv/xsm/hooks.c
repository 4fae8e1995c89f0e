// SPDX-License-Identifier: MIT
// The hook implementations. Until the ACM module (sHype Chinese Wall and Simple Type Enforcement)
// is in, sharing between domains is allowed, and privileged operations are allowed only to
// domains the boot manifest marked privileged: a property of the domain, never of its id.
#include <moat/domain.h>
#include <moat/xsm.h>

static bool privileged(const struct domain *d) { return d->flags & MDOM_PRIVILEGED; }

void xsm_domain_created(struct domain *d) { (void)d; }
void xsm_domain_destroyed(struct domain *d) { (void)d; }

int xsm_domctl(struct domain *subj, uint32_t cmd, struct domain *target)
{
    (void)cmd, (void)target;
    return privileged(subj) ? 0 : -1;
}

int xsm_domctl_create(struct domain *subj, uint32_t ssidref)
{
    (void)ssidref;
    return privileged(subj) ? 0 : -1;
}

int xsm_read_domain(struct domain *subj, struct domain *target)
{
    return subj == target || privileged(subj) ? 0 : -1;
}

int xsm_watch_domains(struct domain *subj) { return privileged(subj) ? 0 : -1; }

int xsm_evtchn_unbound(struct domain *owner, struct domain *remote)
{
    (void)owner, (void)remote;
    return 0;
}

int xsm_evtchn_interdomain(struct domain *subj, struct domain *rd)
{
    (void)subj, (void)rd;
    return 0;
}

int xsm_foreign_evtchn(struct domain *subj, struct domain *owner)
{
    return subj == owner || privileged(subj) ? 0 : -1;
}

int xsm_grant_mapref(struct domain *subj, struct domain *granter)
{
    (void)subj, (void)granter;
    return 0;
}

int xsm_grant_copy(struct domain *subj, struct domain *granter)
{
    (void)subj, (void)granter;
    return 0;
}

int xsm_grant_setup(struct domain *subj, struct domain *target)
{
    return subj == target || privileged(subj) ? 0 : -1;
}
