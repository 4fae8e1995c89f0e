// SPDX-License-Identifier: MIT
// The hypervisor's policy parser against corrupted copies of the live policy, loaded at run time
// (tests/mac/test_malformed.py). Every 32-bit word of the blob is overwritten in turn with
// 0xffffffff, 0x00020002 (two 16-bit cells of 2), its value plus one and its value with the
// last byte 0x7f (the highest ASCII character, in a name), and the blob is cut
// short at a few lengths; each copy is offered with setpolicy (refuse mode). One line per copy,
// `mf <offset> <value> rc=<rc>`, `mt <size> rc=<rc>` or `mc <size> rc=<rc>` (a cut whose header's
// len says its size): the test decodes the same copies with
// the Python compiler's reader (tools/moat/policy/binary.py), which must refuse exactly the
// copies the hypervisor refuses, at the same offset and field (the hypervisor's console line).
// A copy that is refused must leave the live policy as it was; one that is loaded is replaced
// by the original at once.
// Then the same sweep over an STE-only policy (tests/scenarios/policies/mac-test-ste.toml), the
// blob layout with STE as the primary policy and no secondary: lines `sf`/`st`. The live policy
// is Chinese Wall primary, so the copies the parser accepts are refused next as not of the
// running policy's type (so none is loaded, and the event log, which records every load, does
// not fill); the sweep reaches the parser's checks of that layout and of the QUOTAS, SCHED and
// DEVICES sections, which the live policy has not. Last, a policy with no types at all (mac-test-none.toml, the
// UNDEFINED layout), the same way: lines `uf`/`ut`. Then one of 64 label rows (mac-test-wide.toml:
// a targeted permission's bitmap of two words a row, lines `wf`/`wt`), and one of 1025 rows
// (mac-test-many.toml) offered whole and with its SCHED section relabelled QUOTAS, which may have
// at most 1024 rows (lines `bt`/`bf`), and one of exactly 1024 rows with quotas
// (mac-test-quota1024.toml), offered whole (line `qt`). Last, one copy of the live policy with two
// edits: a target section that names no one (line `nobody`).
#include "common.h"

static uint8_t copy[sizeof(blob_mac_test_quota1024)];
_Static_assert(sizeof(blob_mac_test_many) <= sizeof(copy) && sizeof(blob_mac_test) <= sizeof(copy) && sizeof(blob_mac_test_ste) <= sizeof(copy) &&
                   sizeof(blob_mac_test_none) <= sizeof(copy) && sizeof(blob_mac_test_wide) <= sizeof(copy),
               "copy holds every blob swept");
static uint8_t live[sizeof(blob_mac_test) + 64];

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* The live policy is the original again (after a refusal, or after putting it back). */
static bool live_is_original(void)
{
    uint32_t len = 0;
    return acm_getpolicy(live, sizeof(live), &len) == 0 && len == sizeof(blob_mac_test) &&
           !memcmp(live, blob_mac_test, len);
}

/* Offers copy[0..size); false if the original could not be put back (the sweep must stop). */
static bool offer(uint32_t size, long *rc)
{
    struct acm_setpolicy sp;
    *rc = acm_setpolicy(copy, size, ACM_MODE_REFUSE, NULL, 0, &sp);
    if (*rc == 0) {
        long back = acm_setpolicy(blob_mac_test, sizeof(blob_mac_test), ACM_MODE_REFUSE, NULL, 0, &sp);
        if (back) {
            xtf_failure("Fail: putting the original policy back returned %ld\n", back);
            return false;
        }
    } else if (!live_is_original()) {
        xtf_failure("Fail: a refused policy (rc %ld) changed the live one\n", *rc);
        return false;
    }
    return true;
}

/* Offers every one-word overwrite of blob[0..size) and the cuts; `tag` starts each line ('m' for
 * the live policy, 's' for the STE-only one, 'u' for the one without types). `more` adds the values 0 (zero counts, sizes and
 * limits), 15 (ACM_POLICY_UNDEFINED: as a policy code, the parser's third layout), 16 (as an
 * extension section's length, exactly its header: the edge of "shorter than its header") and
 * the value minus one (as the STE-only layout's policy code, ACM_CHINESE_WALL_POLICY: a Chinese
 * Wall policy without Chinese Wall types). False if the sweep had to stop. */
static bool sweep(char tag, const uint8_t *blob, uint32_t size, const uint32_t *cuts, unsigned ncuts,
                  bool more, unsigned *offered, unsigned *loaded)
{
    long rc;
    for (uint32_t off = 0; off + 4 <= size; off += 4) {
        uint32_t orig = rd32(blob + off);
        const uint32_t values[] = {0xffffffffu, 0x00020002u, orig + 1, (orig & ~0xffu) | 0x7fu, 0, 15, 16, orig - 1};
        for (unsigned k = 0; k < (more ? ARRAY_SIZE(values) : 4u); k++) {
            bool seen = values[k] == orig;
            for (unsigned j = 0; j < k; j++)
                seen |= values[j] == values[k];
            if (seen)
                continue;
            memcpy(copy, blob, size);
            wr32(copy + off, values[k]);
            if (!offer(size, &rc))
                return false;
            printf("%cf %u %#x rc=%ld\n", tag, off, values[k], rc);
            ++*offered;
            *loaded += rc == 0;
        }
    }
    for (unsigned k = 0; k < ncuts; k++) {
        memcpy(copy, blob, size);
        if (!offer(cuts[k], &rc))
            return false;
        printf("%ct %u rc=%ld\n", tag, cuts[k], rc);
        ++*offered;
        /* The same cut with the header's len made to agree: refused where the first part that
         * no longer fits begins (line `<tag>c <size>`). */
        wr32(copy + 8, cuts[k]);
        if (!offer(cuts[k], &rc))
            return false;
        printf("%cc %u rc=%ld\n", tag, cuts[k], rc);
        ++*offered;
    }
    return true;
}

/* The first extension section of a Chinese Wall primary blob (found by walking the layout: the
 * CHWALL section at the primary offset, the STE section after it, then the extension's header),
 * and how many there are. */
static uint64_t first_section(const uint8_t *b, uint32_t *sections)
{
    uint64_t c = rd32(b + 20), tc = rd32(b + c + 8);
    uint64_t s = c + ((ACM_CHWALL_HEADER_SIZE + 2u * tc * (rd32(b + c + 12) + rd32(b + c + 16)) + 7u) & ~7ull);
    uint64_t o = s + ((ACM_STE_HEADER_SIZE + 2u * (uint64_t)rd32(b + s + 8) * rd32(b + s + 12) + 7u) & ~7ull);
    *sections = rd32(b + o + 12);
    return o + ACM_EXT_HEADER_SIZE;
}

/* Two edits no one-word sweep makes together: the live policy with the permission of its first
 * target section taken from every row's flags and that section's bitmaps emptied. Row by row the
 * flags and the bitmaps agree; the section is left naming no one, which the format refuses (one
 * encoding per policy). Line `nobody perms=<off> targets=<off> bit=<b> rows=<n> rc=<rc>`. */
static void nobody(void)
{
    const uint8_t *b = blob_mac_test;
    uint32_t sections, perms = 0, targets = 0;
    uint64_t o = first_section(b, &sections);
    for (uint32_t i = 0; i < sections; i++, o += rd32(b + o + 4)) {
        if (rd32(b + o) == ACM_EXT_SEC_PERMISSIONS)
            perms = (uint32_t)o;
        else if (rd32(b + o) >= ACM_EXT_SEC_TARGETS(0) && !targets)
            targets = (uint32_t)o;
    }
    xtf_assert(perms && targets, "blob_mac_test has no permissions or no target section");
    uint32_t bit = rd32(b + targets) - ACM_EXT_SEC_TARGETS(0), rows = rd32(b + perms + 8);
    memcpy(copy, b, sizeof(blob_mac_test));
    for (uint32_t row = 0; row < rows; row++) {
        uint8_t *flags = copy + perms + 16 + 4u * row;
        wr32(flags, rd32(flags) & ~(1u << bit));
    }
    memset(copy + targets + 16, 0, rd32(b + targets + 4) - 16);
    long rc;
    if (!offer(sizeof(blob_mac_test), &rc))
        return;
    printf("nobody perms=%u targets=%u bit=%u rows=%u rc=%ld\n", perms, targets, bit, rows, rc);
}

void suite_malformed(void)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < sizeof(blob_mac_test); i++)
        sum = sum * 31 + blob_mac_test[i];
    printf("mf blob size=%lu sum=%#x\n", (unsigned long)sizeof(blob_mac_test), sum);
    xtf_assert(live_is_original(), "the boot policy is not blob_mac_test");
    unsigned offered = 0, loaded = 0;
    /* Cuts, and four inside the headers of the CHWALL and STE sections, of the extension and of
     * its first section (from the layout). */
    uint32_t sections;
    uint32_t ext = (uint32_t)first_section(blob_mac_test, &sections) - ACM_EXT_HEADER_SIZE;
    uint32_t chwall = rd32(blob_mac_test + 20), ste = rd32(blob_mac_test + 28);
    const uint32_t cuts[] = {60, 64, 100, 200, 400, 600, sizeof(blob_mac_test) - 4, sizeof(blob_mac_test) - 1,
                             chwall + 4, ste + 4, ext + 4, ext + ACM_EXT_HEADER_SIZE + 4};
    if (!sweep('m', blob_mac_test, sizeof(blob_mac_test), cuts, ARRAY_SIZE(cuts), false, &offered, &loaded))
        return;
    printf("malformed: %u copies offered, %u loaded and put back, the original policy live\n", offered, loaded);

    /* Cuts inside the policy name, the STE header and its matrix (a copy shorter than the header
     * is refused by setpolicy before the parser sees it). */
    static const uint32_t ste_cuts[] = {60, 64, 84, 100, sizeof(blob_mac_test_ste) - 4, sizeof(blob_mac_test_ste) - 1};
    offered = loaded = 0;
    if (!sweep('s', blob_mac_test_ste, sizeof(blob_mac_test_ste), ste_cuts, ARRAY_SIZE(ste_cuts), true, &offered,
               &loaded))
        return;
    printf("malformed ste: %u copies offered, %u loaded and put back, the original policy live\n", offered, loaded);

    /* tests/scenarios/policies/mac-test-none.toml: no types, UNDEFINED as both policy codes. */
    static const uint32_t none_cuts[] = {60, 64, sizeof(blob_mac_test_none) - 4, sizeof(blob_mac_test_none) - 1};
    offered = loaded = 0;
    if (!sweep('u', blob_mac_test_none, sizeof(blob_mac_test_none), none_cuts, ARRAY_SIZE(none_cuts), true,
               &offered, &loaded))
        return;
    printf("malformed none: %u copies offered, %u loaded and put back, the original policy live\n", offered,
           loaded);

    /* tests/scenarios/policies/mac-test-wide.toml: 64 rows, bitmaps of two words a row. */
    static const uint32_t wide_cuts[] = {sizeof(blob_mac_test_wide) - 4, sizeof(blob_mac_test_wide) - 8};
    offered = loaded = 0;
    if (!sweep('w', blob_mac_test_wide, sizeof(blob_mac_test_wide), wide_cuts, ARRAY_SIZE(wide_cuts), false,
               &offered, &loaded))
        return;
    printf("malformed wide: %u copies offered, %u loaded and put back, the original policy live\n", offered,
           loaded);

    /* tests/scenarios/policies/mac-test-many.toml: 1025 rows. Whole, then with its SCHED section
     * (found by walking the layout: the CHWALL section at the primary offset, the STE section
     * after it, then the extension) relabelled QUOTAS. */
    const uint8_t *b = blob_mac_test_many;
    const uint32_t size = sizeof(blob_mac_test_many);
    long rc;
    memcpy(copy, b, size);
    if (!offer(size, &rc))
        return;
    printf("bt %u rc=%ld\n", size, rc);
    uint64_t o = first_section(b, &sections);
    for (uint32_t i = 0; i < sections && rd32(b + o) != ACM_EXT_SEC_SCHED; i++)
        o += rd32(b + o + 4);
    xtf_assert(o + 8 <= size && rd32(b + o) == ACM_EXT_SEC_SCHED, "no SCHED section in blob_mac_test_many");
    memcpy(copy, b, size);
    wr32(copy + o, ACM_EXT_SEC_QUOTAS);
    if (!offer(size, &rc))
        return;
    printf("bf %u %#x rc=%ld\n", (uint32_t)o, ACM_EXT_SEC_QUOTAS, rc);

    /* tests/scenarios/policies/mac-test-quota1024.toml: quotas for exactly 1024 rows, whole. */
    memcpy(copy, blob_mac_test_quota1024, sizeof(blob_mac_test_quota1024));
    if (!offer(sizeof(blob_mac_test_quota1024), &rc))
        return;
    printf("qt %u rc=%ld\n", (uint32_t)sizeof(blob_mac_test_quota1024), rc);
    printf("malformed many: the original policy live\n");
    nobody();
}
