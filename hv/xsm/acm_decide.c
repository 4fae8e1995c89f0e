// SPDX-License-Identifier: MIT
// sHype's decisions as pure functions of a policy view (see acm_decide.h). Freestanding: builds
// into the hypervisor and, unchanged, for the host tests.
#include "acm_decide.h"

bool acm_ssidref_is_label(const struct acm_policy_view *v, uint32_t ssidref)
{
    /* Row i of both matrices is VM label i: a pair of different rows is no label at all (its
     * Chinese Wall row would be one label's and its STE row another's). Resource rows (STE rows
     * from chwall_ssidrefs on) label no domain. */
    return ACM_SSIDREF_PRIMARY(ssidref) == ACM_SSIDREF_SECONDARY(ssidref) &&
           ACM_SSIDREF_PRIMARY(ssidref) < v->chwall_ssidrefs;
}

bool acm_ste_share(const struct acm_policy_view *v, uint32_t ssidref_a, uint32_t ssidref_b)
{
    uint32_t ra = ACM_SSIDREF_SECONDARY(ssidref_a), rb = ACM_SSIDREF_SECONDARY(ssidref_b);
    for (uint32_t t = 0; t < v->ste_types; t++)
        if (acm_ste_has_type(v, ra, t) && acm_ste_has_type(v, rb, t))
            return true;
    return false;
}

long acm_chwall_conflict(const struct acm_policy_view *v, const uint32_t *aggregate, uint32_t row)
{
    for (uint32_t t = 0; t < v->chwall_types; t++)
        if (acm_chwall_has_type(v, row, t) && aggregate[t])
            return (long)t;
    return -1;
}

void acm_chwall_account(const struct acm_policy_view *v, uint32_t *running, uint32_t *aggregate, uint32_t row,
                        int delta)
{
    for (uint32_t t = 0; t < v->chwall_types; t++)
        if (acm_chwall_has_type(v, row, t))
            running[t] += (uint32_t)delta;
    for (uint32_t s = 0; s < v->chwall_sets; s++) {
        bool touches = false;
        for (uint32_t t = 0; t < v->chwall_types && !touches; t++)
            touches = acm_chwall_set_has_type(v, s, t) && acm_chwall_has_type(v, row, t);
        if (!touches)
            continue;
        for (uint32_t t = 0; t < v->chwall_types; t++)
            if (acm_chwall_set_has_type(v, s, t) && !acm_chwall_has_type(v, row, t))
                aggregate[t] += (uint32_t)delta;
    }
}
