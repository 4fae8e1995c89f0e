/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the hypervisor's ACM policy parser (hv/xsm/acm_policy.c).
 * Built by tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined. Besides the
 * sanitizers' checks, every accepted blob is walked through the accessors and checked for the
 * invariants the hypervisor relies on.
 */
#include <stdlib.h>

#include "xsm/acm_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct acm_policy_view v;
    struct acm_policy_error e;
    unsigned sum = 0;

    if (acm_policy_parse(data, size, &v, &e) != 0) {
        if (e.field == NULL || e.message == NULL || (e.offset > size && size >= ACM_HEADER_SIZE))
            abort();
        return 0;
    }
    if (v.size != size || v.chwall_types > ACM_MAX_TYPES || v.ste_types > ACM_MAX_TYPES ||
        v.chwall_ssidrefs > v.ste_ssidrefs || v.chwall_offset + v.chwall_size != v.ste_offset ||
        v.ste_offset + v.ste_size > size || v.name[v.name_len] != '\0')
        abort();
    if (v.has_ext && v.ext_offset + v.ext_size != size)
        abort();
    for (uint32_t r = 0; r < v.ste_ssidrefs; r++)
        for (uint32_t t = 0; t < v.ste_types; t++)
            sum += acm_ste_has_type(&v, r, t);
    for (uint32_t r = 0; r < v.chwall_ssidrefs; r++)
        for (uint32_t t = 0; t < v.chwall_types; t++)
            sum += acm_chwall_has_type(&v, r, t);
    for (uint32_t k = 0; k < v.chwall_sets; k++)
        for (uint32_t t = 0; t < v.chwall_types; t++)
            sum += acm_chwall_set_has_type(&v, k, t);
    for (uint32_t r = 0; r < v.ext_rows; r++) {
        sum += acm_ext_flags(&v, r);
        for (uint32_t t = 0; t < v.ext_rows; t++)
            sum += acm_ext_may_create(&v, r, t);
    }
    /* out-of-range accessors must read as empty */
    if (acm_ste_has_type(&v, v.ste_ssidrefs, 0) || acm_chwall_has_type(&v, 0, v.chwall_types) ||
        acm_ext_may_create(&v, v.ext_rows, 0))
        abort();
    return (int)(sum & 0);
}
