/* SPDX-License-Identifier: MIT */
/*
 * Guest wrappers for the xsm_op hypercall (public/xsm/acm_ops.h): the sHype/ACM policy
 * operations. Each fills in cmd and interface_version, issues one HYPERVISOR_xsm_op and returns
 * its result (0 or a negative Xen errno). Which label may call which op: docs/mac.md.
 */
#ifndef MOAT_GUEST_ACM_H
#define MOAT_GUEST_ACM_H

#include <stdint.h>

#include <public/xsm/acm_ops.h>

/* Issues op as given after setting op->cmd (interface_version is left to the caller, so tests
 * can pass a wrong one). */
long acm_op(struct acm_op *op, uint32_t cmd);

/*
 * Loads a policy blob. mode: ACM_MODE_REFUSE or ACM_MODE_REVOKE. Violations (refuse mode, or a
 * Chinese Wall conflict / missing ssidref in either mode) go to errors[0..max_errors); out (may
 * be NULL) receives the whole result: nr_errors, revoked_evtchn, revoked_grants.
 */
long acm_setpolicy(const void *blob, uint32_t size, uint32_t mode, struct acm_violation *errors,
                   uint32_t max_errors, struct acm_setpolicy *out);

/* Copies the live blob into buf; *len (may be NULL) gets its size, also on -ENOSPC. */
long acm_getpolicy(void *buf, uint32_t size, uint32_t *len);

/* A domain's label (DOMID_SELF for the caller) or an ssidref's rows. */
long acm_getssid_domain(domid_t domid, struct acm_getssid *out);
long acm_getssid_ssidref(uint32_t ssidref, struct acm_getssid *out);

/* Would the policy allow hook (ACM_HOOK_*) between the two labels? *decision: ACM_ACCESS_*. */
long acm_getdecision(uint32_t ssidref1, uint32_t ssidref2, uint32_t hook, uint32_t *decision);

long acm_dumpstats(struct acm_stats *stats);

/* Gives a running domain a new label; out (may be NULL) gets what was revoked. */
long acm_relabel(domid_t domid, uint32_t ssidref, struct acm_relabel *out);

#endif
