/* SPDX-License-Identifier: MIT */
/*
 * xsm_op(struct acm_op *): managing the sHype/ACM policy at run time. Op numbers are Xen 4.1's
 * (public/xsm/acm_ops.h); the structures are moat's. Every op is a permission of the caller's
 * label in the policy (docs/policy-format.md section 7), never of a domain id:
 *   setpolicy                               POLICY_LOAD
 *   relabel                                 POLICY_LOAD, and READ_STATE over the domain's label
 *   getssid of another domain               READ_STATE over its label (of oneself: nothing)
 *   getpolicy, getdecision, dumpstats,
 *   getssid by ssidref                      READ_STATE over every label
 * A caller without it gets -EPERM. A wrong interface_version gets -EINVAL and changes nothing.
 * An ssidref that names no label of the live policy (both halves the same row) gets -EINVAL.
 *
 * setpolicy validates the whole blob before anything changes (-EINVAL for a malformed blob, a
 * blob that is not loadable, or one whose policy codes differ from the running policy's). Then:
 *  - ACM_MODE_REFUSE (Xen's behaviour): if live sharing or running domains would violate the new
 *    policy, nothing changes, -EBUSY is returned and the violations are written to `errors` as
 *    (code, parameter) pairs (public/xsm/acm.h: ACM_*_VIOLATION, ACM_CHWALL_CONFLICT, ...).
 *  - ACM_MODE_REVOKE (moat): the policy is installed and every event channel and grant mapping
 *    it forbids is revoked (both channel ends closed and signalled; mappings torn down).
 * A Chinese Wall conflict among running domains, or a running domain whose ssidref the new
 * policy does not have, refuses the policy in both modes.
 */
#ifndef MOAT_PUBLIC_XSM_ACM_OPS_H
#define MOAT_PUBLIC_XSM_ACM_OPS_H

#include "../hv.h"
#include "acm.h"

#define ACM_INTERFACE_VERSION 0xaaaa0009u

#define ACM_MODE_REFUSE 0
#define ACM_MODE_REVOKE 1

#define ACM_MAX_SETPOLICY_SIZE (4u * 1024u * 1024u) /* a larger blob: -E2BIG */

#define ACM_GETBY_domainid 1
#define ACM_GETBY_ssidref 2

/* Hooks, for getdecision and dumpstats. */
#define ACM_HOOK_DOMAIN_CREATE 0   /* Chinese Wall */
#define ACM_HOOK_EVTCHN_UNBOUND 1
#define ACM_HOOK_EVTCHN_BIND 2
#define ACM_HOOK_GRANT_MAP 3
#define ACM_HOOK_GRANT_COPY 4
#define ACM_HOOK_GRANT_SETUP 5
#define ACM_HOOK_PRIVILEGED 6      /* domctl, policy ops, reading others' state */
#define ACM_NR_HOOKS 7

#define ACM_ACCESS_PERMITTED 0
#define ACM_ACCESS_DENIED 1

struct acm_violation {
    uint32_t code;  /* ACM_EVTCHN_SHARING_VIOLATION etc. */
    uint32_t param; /* domid << 16 | remote domid, a type number, or an ssidref */
};

struct acm_setpolicy {
    uint64_t buf;          /* IN: guest pointer to the blob */
    uint32_t size;         /* IN */
    uint32_t mode;         /* IN: ACM_MODE_* */
    uint64_t errors;       /* IN: guest pointer to struct acm_violation[max_errors], may be 0 */
    uint32_t max_errors;   /* IN */
    uint32_t nr_errors;    /* OUT: violations found (may exceed max_errors) */
    uint32_t revoked_evtchn, revoked_grants; /* OUT: what revoke mode took away */
    uint32_t revoked_virqs;                  /* OUT: privileged VIRQ bindings taken away */
    uint32_t pad;
};

struct acm_getpolicy {
    uint64_t buf;   /* IN: guest pointer */
    uint32_t size;  /* IN: its size */
    uint32_t len;   /* OUT: the live blob's size (-ENOSPC if size is smaller) */
};

struct acm_getssid {
    uint32_t get_by;  /* ACM_GETBY_* */
    uint32_t id;      /* domid or ssidref */
    uint32_t ssidref; /* OUT */
    uint32_t primary_row, secondary_row; /* OUT */
    uint32_t primary_code, secondary_code; /* OUT */
};

struct acm_getdecision {
    uint32_t ssidref1, ssidref2; /* IN */
    uint32_t hook;               /* IN: ACM_HOOK_EVTCHN_*, ACM_HOOK_GRANT_* or ACM_HOOK_DOMAIN_CREATE */
    uint32_t decision;           /* OUT: ACM_ACCESS_* */
};

struct acm_hook_stats {
    uint64_t evaluations, denials, cache_hits;
};

struct acm_stats {
    struct acm_hook_stats hook[ACM_NR_HOOKS];
    uint64_t policy_loads, policy_refusals, revoked_evtchn, revoked_grants;
    uint64_t revoked_virqs;     /* privileged VIRQ bindings revoked (relabel, policy loads) */
    uint64_t audit_suppressed;  /* denial lines not printed (rate limit); the counts above count all */
};

struct acm_dumpstats {
    uint64_t buf;  /* IN: guest pointer to struct acm_stats */
    uint32_t size; /* IN: >= sizeof(struct acm_stats) */
    uint32_t pad;
};

/* Changes a running domain's label; what the new label forbids is revoked (as ACM_MODE_REVOKE). */
struct acm_relabel {
    domid_t domid;
    uint16_t pad;
    uint32_t ssidref;
    uint32_t revoked_evtchn, revoked_grants; /* OUT */
    uint32_t revoked_virqs;                  /* OUT */
};

struct acm_op {
    uint32_t cmd;               /* ACMOP_* */
    uint32_t interface_version; /* ACM_INTERFACE_VERSION */
    union {
        struct acm_setpolicy setpolicy;
        struct acm_getpolicy getpolicy;
        struct acm_getssid getssid;
        struct acm_getdecision getdecision;
        struct acm_dumpstats dumpstats;
        struct acm_relabel relabel;
        uint8_t raw[64];
    } u;
};

#endif
