// SPDX-License-Identifier: MIT
// A hostile policy loader (label admin: load_policy, read_state; the threat model's "hostile
// policy author"): blobs corrupted in the ways that broke other loaders (dimensions that
// overflow, sections past the end, unknown extension sections, a changed policy type, a bad
// mode). Each must be refused whole with -EINVAL (or -E2BIG), and the live policy must stay the
// very bytes it was.
#include <moat/acm.h>

#include "../common/attack.h"
#include "embedded_policies.h"

static uint8_t blob[sizeof(attack_policy)] __attribute__((aligned(8)));
static uint8_t live[sizeof(attack_policy)];

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static bool live_unchanged(void)
{
    uint32_t len = 0;
    return acm_getpolicy(live, sizeof(live), &len) == 0 && len == sizeof(attack_policy) &&
           !memcmp(live, attack_policy, sizeof(live));
}

/* Loads blob[0..size) in `mode`; the verdict needs `want` and the live policy untouched. */
static void load(const char *name, uint32_t size, uint32_t mode, long want)
{
    struct acm_setpolicy out;
    long rc = acm_setpolicy(blob, size, mode, NULL, 0, &out);
    bool same = live_unchanged();
    verdict(name, rc == want && same, "setpolicy %ld (expected %ld), live policy unchanged: %d", rc, want, same);
    memcpy(blob, attack_policy, sizeof(blob));
}

int main(const struct start_info *si)
{
    (void)si;
    memcpy(blob, attack_policy, sizeof(blob));
    uint32_t c = rd32(blob + 20), s = rd32(blob + 28); /* the CHWALL and STE sections */
    uint32_t ts = rd32(blob + s + 8), rs = rd32(blob + s + 12);
    uint32_t e = s + ((20 + 2 * ts * rs + 7) & ~7u);   /* the extension: after the STE matrix */

    load("policy-truncated", (uint32_t)sizeof(blob) - 8, ACM_MODE_REVOKE, -XEN_EINVAL);
    wr32(blob + c + 8, 0xffffffffu); /* CHWALL max_types */
    load("policy-overflowing-types", sizeof(blob), ACM_MODE_REVOKE, -XEN_EINVAL);
    wr32(blob + c + 12, 0x10000u); /* CHWALL max_ssidrefs past a 16-bit row */
    load("policy-overflowing-rows", sizeof(blob), ACM_MODE_REVOKE, -XEN_EINVAL);
    wr32(blob + s + 16, 0x7ffffff0u); /* STE ssid_offset pointing far past the end */
    load("policy-offset-past-the-end", sizeof(blob), ACM_MODE_REVOKE, -XEN_EINVAL);
    wr32(blob + 8, 0xffffffffu); /* header len */
    load("policy-len-lies", sizeof(blob), ACM_MODE_REVOKE, -XEN_EINVAL);
    wr32(blob + e + 16, 99); /* the first extension section: a type this hypervisor does not know */
    load("policy-unknown-extension-section", sizeof(blob), ACM_MODE_REVOKE, -XEN_EINVAL);
    wr32(blob + e + 4, 1); /* extension version 1 */
    load("policy-old-extension-version", sizeof(blob), ACM_MODE_REVOKE, -XEN_EINVAL);
    wr32(blob + 16, 2); /* primary code STE: changing the policy type is refused */
    load("policy-type-change", sizeof(blob), ACM_MODE_REVOKE, -XEN_EINVAL);
    load("policy-bad-mode", sizeof(blob), 7, -XEN_EINVAL);
    load("policy-too-small", 59, ACM_MODE_REVOKE, -XEN_EINVAL);
    load("policy-too-big", ACM_MAX_SETPOLICY_SIZE + 1, ACM_MODE_REVOKE, -XEN_E2BIG);
    /* A cell that is not 0 or 1 (a one in the high byte). */
    blob[s + 20] = 1;
    load("policy-bad-cell", sizeof(blob), ACM_MODE_REVOKE, -XEN_EINVAL);
    return 0;
}
