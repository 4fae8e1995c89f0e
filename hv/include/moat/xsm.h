/* SPDX-License-Identifier: MIT */
/*
 * The security hook interface (like Xen's XSM). Every access-control decision in the hypervisor
 * goes through one of these; the MAC module behind them decides. Each returns 0 to allow or a
 * nonzero value to deny (callers map it to their own error code). Hooks are called when a
 * resource is bound, never on each use: the hot paths (send, touching a mapped page) have none.
 */
#ifndef MOAT_XSM_H
#define MOAT_XSM_H

#include <moat/types.h>

struct domain;

void xsm_domain_created(struct domain *d);
void xsm_domain_destroyed(struct domain *d);

/* Privileged operations: domctl commands (target NULL for create), reading others' state. */
int xsm_domctl(struct domain *subj, uint32_t cmd, struct domain *target);
int xsm_domctl_create(struct domain *subj, uint32_t ssidref);
int xsm_read_domain(struct domain *subj, struct domain *target);
int xsm_watch_domains(struct domain *subj);

/* Event channels: an unbound port of owner for remote; binding subj to rd's port. */
int xsm_evtchn_unbound(struct domain *owner, struct domain *remote);
int xsm_evtchn_interdomain(struct domain *subj, struct domain *rd);
/* Acting on another domain's ports (alloc_unbound, status, reset for dom != self). */
int xsm_foreign_evtchn(struct domain *subj, struct domain *owner);

/* Grants: subj maps or copies granter's pages; subj sets up or inspects another's table. */
int xsm_grant_mapref(struct domain *subj, struct domain *granter);
int xsm_grant_copy(struct domain *subj, struct domain *granter);
int xsm_grant_setup(struct domain *subj, struct domain *target);

#endif
