/* SPDX-License-Identifier: MIT */
/*
 * The decisions of sHype's two policies, as pure functions of a parsed policy view (no domains,
 * no state beyond the arrays passed in). The ACM module (acm.c) applies them to running domains;
 * tests/host/acm_decide_check.c runs them on the host against the Python model of the same rules.
 */
#ifndef MOAT_XSM_ACM_DECIDE_H
#define MOAT_XSM_ACM_DECIDE_H

#include "acm_policy.h"

/*
 * Does the ssidref name one VM label of the policy: both halves the same row (row << 16 | row),
 * below the number of VM labels? Row 0 is __UNLABELED__ (no types, no permissions). Every ssidref
 * a domain is given or asked about must pass this: a pair of rows from two labels would combine
 * one label's Chinese Wall row with another's STE row.
 */
bool acm_ssidref_is_label(const struct acm_policy_view *v, uint32_t ssidref);
/* Simple Type Enforcement: may two labels share an event channel or a page (a common STE type)? */
bool acm_ste_share(const struct acm_policy_view *v, uint32_t ssidref_a, uint32_t ssidref_b);
/* Chinese Wall: the first type of CHWALL row `row` that `aggregate` bars, or -1 if it may start. */
long acm_chwall_conflict(const struct acm_policy_view *v, const uint32_t *aggregate, uint32_t row);
/*
 * A domain of CHWALL row `row` starts (delta +1) or stops (-1): its types count as running, and
 * the other types of every conflict set it touches are barred (aggregate) while it runs.
 * running and aggregate have v->chwall_types entries.
 */
void acm_chwall_account(const struct acm_policy_view *v, uint32_t *running, uint32_t *aggregate, uint32_t row,
                        int delta);

#endif
