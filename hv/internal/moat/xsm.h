/* SPDX-License-Identifier: MIT */
/*
 * The security hook interface (like Xen's XSM). Every access-control decision in the hypervisor
 * goes through one of these; the ACM module (xsm/acm.c: sHype's Chinese Wall and Simple Type
 * Enforcement, plus label permissions) decides. Hooks run when a resource is bound or created,
 * never on each use: sending on a bound port or touching a mapped page has no MAC code at all.
 * No hook looks at a domain id to decide: only at labels (ssidrefs) and the policy.
 *
 * The contract. Every hook that decides returns 0 (allowed) or exactly one negative Xen errno,
 * the one written next to it below, and nothing else; the caller passes it through unchanged as
 * its own result (grant ops, which report per element, turn -XEN_EACCES into the status
 * GNTST_permission_denied and -XEN_ESRCH into GNTST_bad_domain). The hook counts and audits a
 * denial itself (one `MAC deny` line, docs/mac.md); the caller leaves no state behind.
 *
 *   -XEN_EPERM   a permission of the caller's label (docs/policy-language.md) is missing, or
 *                the Chinese Wall forbids a domain to start
 *   -XEN_EACCES  Simple Type Enforcement: the two labels share no type (sharing, and the grant
 *                ops of another domain's table)
 *   -XEN_EINVAL  an ssidref that names no label of the live policy
 *
 * Domain ids. An operation that takes a domain id looks it up first and, if the id names no live
 * domain, returns xsm_no_domain(): a caller that may not read the state of domains of every label
 * gets the error a live domain it may not touch would give, so it can never tell a free id from
 * a domain it is not allowed to see (docs/security.md).
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

/* Per-domain rate limit of its denial lines (acm.c): a generic cell rate, so a burst passes and a
 * flood is counted instead of printed. */
struct xsm_audit {
    uint64_t tat_ns;     /* theoretical arrival time of the next line */
    uint32_t suppressed; /* lines not printed since the last one that was */
};

/* Boot: loads the policy module (mandatory); stops the machine with the reason if there is none. */
void xsm_boot(void);
/* The live policy's number of VM labels (rows), __UNLABELED__ included. */
unsigned xsm_label_count(void);

/* Domain life: may a domain with this label start now (-XEN_EINVAL: not a label; -XEN_EPERM:
 * Chinese Wall), and the bookkeeping of its start and end. creator is NULL at boot. */
int xsm_domain_create(struct domain *creator, uint32_t ssidref, const char *name);
void xsm_domain_created(struct domain *d);
void xsm_domain_destroyed(struct domain *d);

/* An id subj asked about names no live domain: -XEN_ESRCH if subj may read the state of domains
 * of every label, else `denial` (what the operation answers a domain subj may not touch). */
int xsm_no_domain(struct domain *subj, domid_t id, int denial);

/* Privileged operations: permissions of the subject's label over the target's (-XEN_EPERM). */
int xsm_domctl(struct domain *subj, uint32_t cmd, struct domain *target);
int xsm_domctl_create(struct domain *subj, uint32_t ssidref);
int xsm_read_domain(struct domain *subj, struct domain *target);
/* Binding VIRQ_DOM_EXC: read_state on at least one label (-XEN_EPERM). */
int xsm_watch_domains(struct domain *subj);
/* Whether a watcher hears of the death of a domain of this label (read_state on it; no audit). */
bool xsm_watch_sees(struct domain *watcher, uint32_t dead_ssidref);
/* Acting on another domain's event channels: write = alloc_unbound/reset, else status (-XEN_EPERM). */
int xsm_foreign_evtchn(struct domain *subj, struct domain *owner, bool write);

/* Sharing (Simple Type Enforcement): -XEN_EACCES. */
int xsm_evtchn_unbound(struct domain *owner, struct domain *remote);
int xsm_evtchn_interdomain(struct domain *subj, struct domain *rd);
int xsm_grant_mapref(struct domain *subj, struct domain *granter);
int xsm_grant_copy(struct domain *subj, struct domain *granter);
/* Setting up another domain's grant table: control of it and a shared type (-XEN_EACCES). */
int xsm_grant_setup(struct domain *subj, struct domain *target);
/* Reading another domain's table size: a shared type, as sHype's setup hook (-XEN_EACCES). */
int xsm_grant_query(struct domain *subj, struct domain *target);
/* Not a decision: the STE types both domains' labels hold, bit t = type t (types 0..63). Links
 * (core/link.c) publish it to their ends as the VLANs they may carry. */
uint64_t xsm_ste_shared_types(const struct domain *a, const struct domain *b);

/* Device assignment: may a domain with this label be given device dev (public/device.h)? */
int xsm_assign_device(struct domain *creator, uint32_t ssidref, const char *name, unsigned dev);
/* Audits a domain's access to a device it does not hold (it faulted; it is about to be killed). */
void xsm_device_denied(struct domain *d, unsigned dev);

/* Not a decision: the live policy's limit of resource field (ACM_QUOTA_*) for the label of this
 * policy row, ACM_QUOTA_UNLIMITED when it has none (moat/quota.h enforces it). */
uint32_t xsm_quota_limit(uint32_t row, unsigned field);
/* Not a decision: the live policy's default weight or cap (ACM_SCHED_WEIGHT, ACM_SCHED_CAP) for
 * domains of this label, 0 when it has none (sched_share.c applies it at creation). */
uint32_t xsm_sched_default(uint32_t ssidref, unsigned field);

/* The policy operations (public/xsm/acm_ops.h); each checks its own permission. */
long do_xsm_op(uint64_t arg, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

#endif
