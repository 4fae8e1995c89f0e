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

/* Each function looks its label rows up once (acm_*_row bounds them, also under speculation)
 * and then walks the types of those rows. */

bool acm_ste_share(const struct acm_policy_view *v, uint32_t ssidref_a, uint32_t ssidref_b)
{
    const uint8_t *a = acm_ste_row(v, ACM_SSIDREF_SECONDARY(ssidref_a));
    const uint8_t *b = acm_ste_row(v, ACM_SSIDREF_SECONDARY(ssidref_b));
    if (!a || !b)
        return false;
    for (uint32_t t = 0; t < v->ste_types; t++)
        if (acm_cell(a, t) && acm_cell(b, t))
            return true;
    return false;
}

long acm_chwall_conflict(const struct acm_policy_view *v, const uint32_t *aggregate, uint32_t row)
{
    const uint8_t *r = acm_chwall_row(v, row);
    for (uint32_t t = 0; r && t < v->chwall_types; t++)
        if (acm_cell(r, t) && aggregate[t])
            return (long)t;
    return -1;
}

void acm_chwall_account(const struct acm_policy_view *v, uint32_t *running, uint32_t *aggregate, uint32_t row,
                        int delta)
{
    const uint8_t *r = acm_chwall_row(v, row);
    if (!r)
        return;
    for (uint32_t t = 0; t < v->chwall_types; t++)
        if (acm_cell(r, t))
            running[t] += (uint32_t)delta;
    for (uint32_t s = 0; s < v->chwall_sets; s++) {
        const uint8_t *set = v->chwall_conflict + 2u * (uint64_t)s * v->chwall_types;
        bool touches = false;
        for (uint32_t t = 0; t < v->chwall_types && !touches; t++)
            touches = acm_cell(set, t) && acm_cell(r, t);
        if (!touches)
            continue;
        for (uint32_t t = 0; t < v->chwall_types; t++)
            if (acm_cell(set, t) && !acm_cell(r, t))
                aggregate[t] += (uint32_t)delta;
    }
}
