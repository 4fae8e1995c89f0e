/* SPDX-License-Identifier: MIT */
/*
 * The security hook interface (like Xen's XSM). Every access-control decision in the hypervisor
 * goes through one of these; the ACM module (xsm/acm.c: sHype's Chinese Wall and Simple Type
 * Enforcement, plus label permissions) decides. Each returns 0 to allow or nonzero to deny
 * (callers map that to their own error code). Hooks run when a resource is bound or created,
 * never on each use: sending on a bound port or touching a mapped page has no MAC code at all.
 * No hook looks at a domain id to decide: only at labels (ssidrefs) and the policy.
 */
#ifndef MOAT_XSM_H
#define MOAT_XSM_H

#include <moat/types.h>

struct domain;

#define XSM_CACHE_SIZE 8

/* Per-domain cache of positive STE decisions, keyed by the other domain's id and incarnation. */
struct xsm_cache {
    domid_t dom[XSM_CACHE_SIZE];
    uint32_t incarnation[XSM_CACHE_SIZE]; /* 0 = empty slot */
    uint8_t next;
};

/* Boot: loads the policy module (mandatory); stops the machine with the reason if there is none. */
void xsm_boot(void);

/* Domain life: may a domain with this label start now (Chinese Wall), and bookkeeping. */
int xsm_domain_create(struct domain *creator, uint32_t ssidref, const char *name);
void xsm_domain_created(struct domain *d);
void xsm_domain_destroyed(struct domain *d);

/* Privileged operations: permissions of the subject's label. */
int xsm_domctl(struct domain *subj, uint32_t cmd, struct domain *target);
int xsm_domctl_create(struct domain *subj, uint32_t ssidref);
int xsm_read_domain(struct domain *subj, struct domain *target);
int xsm_watch_domains(struct domain *subj);
/* Acting on another domain's event channels: write = alloc_unbound/reset, else status. */
int xsm_foreign_evtchn(struct domain *subj, struct domain *owner, bool write);

/* Sharing (Simple Type Enforcement). */
int xsm_evtchn_unbound(struct domain *owner, struct domain *remote);
int xsm_evtchn_interdomain(struct domain *subj, struct domain *rd);
int xsm_grant_mapref(struct domain *subj, struct domain *granter);
int xsm_grant_copy(struct domain *subj, struct domain *granter);
/* Setting up another domain's grant table: control of it (DOMAIN_DESTROY) and a shared type. */
int xsm_grant_setup(struct domain *subj, struct domain *target);
/* Reading another domain's table size: a shared type (as sHype's setup hook). */
int xsm_grant_query(struct domain *subj, struct domain *target);
/* Not a decision: the STE types both domains' labels hold, bit t = type t (types 0..63). Links
 * (core/link.c) publish it to their ends as the VLANs they may carry. */
uint64_t xsm_ste_shared_types(const struct domain *a, const struct domain *b);

/* Device assignment: may a domain with this label be given device dev (public/device.h)? */
int xsm_assign_device(struct domain *creator, uint32_t ssidref, const char *name, unsigned dev);
/* Audits a domain's access to a device it does not hold (it faulted; it is about to be killed). */
void xsm_device_denied(const struct domain *d, unsigned dev);

long do_xsm_op(uint64_t arg, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

#endif
