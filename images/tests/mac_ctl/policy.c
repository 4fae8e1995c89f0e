// SPDX-License-Identifier: MIT
// Policy operations (acceptance items 16-21, 23-25; tests/mac/test_policy.py): getpolicy and
// getssid, malformed and wrongly-typed blobs and a wrong interface version (refused, nothing
// changes), refuse mode (the violation tuples, the old policy still enforced) and revoke mode
// (channels closed with both ends notified, grant mappings torn down), and a policy larger than
// the 1 MiB steps in which setpolicy and getpolicy copy a blob, loaded and read back whole.
#include "common.h"

#include <public/event_channel.h>

#define MARKER 0x6772616e746564ULL
#define SPLIT_SIZE ((uint32_t)sizeof(blob_mac_test_split))

static uint8_t buf[8192] __attribute__((aligned(8)));
static volatile uint64_t own_page[GUEST_PAGE_SIZE / 8] __attribute__((aligned(4096)));

static bool live_is(const uint8_t *blob, uint32_t size)
{
    static uint8_t live[8192];
    uint32_t len = 0;
    long rc = acm_getpolicy(live, sizeof(live), &len);
    return rc == 0 && len == size && memcmp(live, blob, size) == 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void getssid(domid_t red)
{
    struct acm_getssid g;
    xtf_check_eq(acm_getssid_domain(red, &g), 0);
    xtf_check_eq(g.ssidref, BLOB_MAC_TEST_SSID_RED);
    xtf_check_eq(g.primary_row, ACM_SSIDREF_PRIMARY(BLOB_MAC_TEST_SSID_RED));
    xtf_check_eq(g.secondary_row, ACM_SSIDREF_SECONDARY(BLOB_MAC_TEST_SSID_RED));
    xtf_check_eq(g.primary_code, ACM_CHINESE_WALL_POLICY);
    xtf_check_eq(g.secondary_code, ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY);
    xtf_check_eq(acm_getssid_domain(SELF, &g), 0);
    xtf_check_eq(g.ssidref, BLOB_MAC_TEST_SSID_SYSTEM);
    xtf_check_eq(acm_getssid_ssidref(BLOB_MAC_TEST_SSID_BLUE, &g), 0);
    xtf_check_eq(g.primary_row, ACM_SSIDREF_PRIMARY(BLOB_MAC_TEST_SSID_BLUE));
    xtf_check_eq(acm_getssid_domain(DOMID_FIRST_RESERVED - 1, &g), -XEN_ESRCH);
    struct acm_op op;
    memset(&op, 0, sizeof(op));
    op.interface_version = ACM_INTERFACE_VERSION;
    op.u.getssid.get_by = 3;
    xtf_check_eq(acm_op(&op, ACMOP_getssid), -XEN_EINVAL);
    printf("policy: getssid by domid and ssidref\n");
}

/* Items 20, 21, 23: every one refused with nothing changed. */
static void refused_blobs(domid_t red)
{
    struct acm_stats s0 = mac_stats();
    unsigned refused = 0;
    struct acm_setpolicy sp;
#define REFUSE(what, size, want)                                                                       \
    do {                                                                                               \
        long rc_ = acm_setpolicy(buf, (size), ACM_MODE_REVOKE, NULL, 0, &sp);                          \
        xtf_check(rc_ == (want), "%s: setpolicy returned %ld, expected %d", what, rc_, (int)(want));   \
        refused++;                                                                                     \
    } while (0)
#define MUTATE(what, off, value)                                                                       \
    do {                                                                                               \
        memcpy(buf, blob_mac_test_split, SPLIT_SIZE);                                                  \
        put_be32(buf + (off), (value));                                                                \
        REFUSE(what, SPLIT_SIZE, -XEN_EINVAL);                                                         \
    } while (0)
    uint32_t chw = get_be32(blob_mac_test_split + 20), ste = get_be32(blob_mac_test_split + 28);
    memcpy(buf, blob_mac_test_split, SPLIT_SIZE);
    REFUSE("truncated", SPLIT_SIZE - 8, -XEN_EINVAL);
    /* Refused before the blob is read (counted as policy refusals all the same). */
    xtf_check_eq(acm_setpolicy(buf, 40, ACM_MODE_REFUSE, NULL, 0, &sp), -XEN_EINVAL);
    xtf_check_eq(acm_setpolicy(buf, SPLIT_SIZE, 2, NULL, 0, &sp), -XEN_EINVAL);
    xtf_check_eq(acm_setpolicy(buf, ACM_MAX_SETPOLICY_SIZE + 1, ACM_MODE_REFUSE, NULL, 0, &sp), -XEN_E2BIG);
    refused += 3;
    MUTATE("bad magic", 0, 0x0001debd);
    /* Only the magic's first byte wrong: a copy that skipped the blob's byte 0 would find the 0
     * there anyway (what fresh or earlier policy pages hold) and load the blob. */
    memcpy(buf, blob_mac_test_split, SPLIT_SIZE);
    buf[0] = 0x01;
    REFUSE("bad first byte", SPLIT_SIZE, -XEN_EINVAL);
    MUTATE("wrong version", 4, 5);
    MUTATE("len > size", 8, SPLIT_SIZE + 8);
    MUTATE("len < size", 8, SPLIT_SIZE - 8);
    memcpy(buf, blob_mac_test_split, SPLIT_SIZE);
    put_be32(buf + 8, ste + 24); /* len and size agree, the STE matrix is cut short */
    REFUSE("truncated matrix", ste + 24, -XEN_EINVAL);
    MUTATE("chwall types overflow", chw + 8, 0x00010000);
    memcpy(buf, blob_mac_test_split, SPLIT_SIZE);
    put_be32(buf + chw + 8, 0x00010000);
    put_be32(buf + chw + 12, 0x00010000); /* types * ssidrefs * 2 wraps a 32-bit product */
    REFUSE("chwall dimensions wrap", SPLIT_SIZE, -XEN_EINVAL);
    MUTATE("ste types huge", ste + 8, 0xffffffffu);
    MUTATE("ste ssidrefs huge", ste + 12, 0x7fffffffu);
    MUTATE("conflict sets huge", chw + 16, 0xfffffff0u);
    MUTATE("policy reference offset", 12, SPLIT_SIZE);
    MUTATE("primary offset", 20, SPLIT_SIZE + 8);
    MUTATE("secondary offset", 28, 0xfffffff8u);
    MUTATE("chwall ssid offset", chw + 20, 0x7ffffff0u);
    MUTATE("conflict sets offset", chw + 24, SPLIT_SIZE);
    MUTATE("ste ssid offset", ste + 16, SPLIT_SIZE);
    /* Item 21: the policy type (the header's codes) may not change. */
    memcpy(buf, blob_mac_test_split, SPLIT_SIZE);
    put_be32(buf + 16, ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY);
    put_be32(buf + 24, ACM_CHINESE_WALL_POLICY);
    REFUSE("codes swapped", SPLIT_SIZE, -XEN_EINVAL);
    MUTATE("secondary null", 24, ACM_NULL_POLICY);
    /* Item 23: a wrong interface version, for every op, even with a good blob. */
    for (uint32_t cmd = ACMOP_setpolicy; cmd <= ACMOP_relabeldoms; cmd++) {
        struct acm_op op;
        memset(&op, 0, sizeof(op));
        op.interface_version = ACM_INTERFACE_VERSION + 1;
        op.u.setpolicy.buf = (uint64_t)(uintptr_t)blob_mac_test_split;
        op.u.setpolicy.size = SPLIT_SIZE;
        op.u.setpolicy.mode = ACM_MODE_REVOKE;
        xtf_check(acm_op(&op, cmd) == -XEN_EINVAL, "op %u with a wrong interface version", cmd);
    }
    /* Nothing changed: the live blob is the boot policy's, and it still decides. */
    xtf_check(live_is(blob_mac_test, sizeof(blob_mac_test)), "the live policy changed");
    xtf_check_eq(ev_alloc(red, SELF, NULL), 0); /* split would deny this */
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(s1.policy_loads, s0.policy_loads);
    xtf_check(s1.policy_refusals - s0.policy_refusals == refused,
              "refusals counted %lu of %u", (unsigned long)(s1.policy_refusals - s0.policy_refusals), refused);
    printf("policy: %u malformed or wrongly typed blobs refused, old policy still enforced\n", refused);
#undef MUTATE
#undef REFUSE
}

static bool has(const struct acm_violation *v, uint32_t n, uint32_t code, uint32_t param)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i].code == code && v[i].param == param)
            return true;
    return false;
}

static bool wait_reading(grant_ref_t ref, bool want)
{
    uint64_t give_up = now_ns() + 10 * NS_PER_SEC;
    while (!!(__atomic_load_n(&gnt_own_entry(ref)->flags, __ATOMIC_SEQ_CST) & GTF_reading) != want)
        if (now_ns() > give_up)
            return false;
        else
            sleep_ns(NS_PER_MS);
    return true;
}

static void hard_violations(void)
{
    struct acm_violation v[8];
    struct acm_setpolicy sp;
    /* Item 18: a new conflict set covering two running domains, in both modes. */
    domid_t gamma = child(BLOB_MAC_TEST_SSID_GAMMA, "gamma-1", "mode=sleep");
    for (uint32_t mode = ACM_MODE_REFUSE; mode <= ACM_MODE_REVOKE; mode++) {
        memset(v, 0, sizeof(v));
        xtf_check_eq(acm_setpolicy(blob_mac_test_wall, sizeof(blob_mac_test_wall), mode, v, 8, &sp), -XEN_EBUSY);
        xtf_check_eq(sp.nr_errors, 1);
        xtf_check(v[0].code == ACM_CHWALL_CONFLICT && v[0].param == BLOB_MAC_TEST_CHWALL_GAMMA, "mode %u: (%#x, %#x)", mode, v[0].code,
                  v[0].param);
    }
    kill(gamma);
    /* Item 19: a running domain's ssidref deleted, in both modes. */
    domid_t zombie = child(BLOB_MAC_TEST_SSID_ZOMBIE, "zombie-1", "mode=sleep");
    for (uint32_t mode = ACM_MODE_REFUSE; mode <= ACM_MODE_REVOKE; mode++) {
        memset(v, 0, sizeof(v));
        xtf_check_eq(acm_setpolicy(blob_mac_test_drop, sizeof(blob_mac_test_drop), mode, v, 8, &sp), -XEN_EBUSY);
        xtf_check_eq(sp.nr_errors, 1);
        xtf_check(v[0].code == ACM_SSIDREF_IN_USE && v[0].param == BLOB_MAC_TEST_SSID_ZOMBIE, "mode %u: (%#x, %#x)", mode,
                  v[0].code, v[0].param);
    }
    kill(zombie);
    xtf_check(live_is(blob_mac_test, sizeof(blob_mac_test)), "the live policy changed");
    printf("policy: chinese-wall conflicts and deleted ssidrefs refused in both modes\n");
}

/*
 * A loadable policy of over 1 MiB, built from the boot policy: its STE section widened to
 * BIG_TYPES types and BIG_EXTRA_ROWS more rows (rows past the Chinese Wall's label no domain, so
 * every decision stays the boot policy's), each extra row holding one type, so no 512 KiB of the
 * matrix is all zeros; the extension, after the matrix, lies past the first MiB. setpolicy and
 * getpolicy copy a blob in steps of 1 MiB: a step that skipped or cut a piece would leave the
 * extension or some cells out, and the parse or the comparison with what getpolicy returns fails.
 */
#define BIG_TYPES 512u
#define BIG_EXTRA_ROWS 1100u
#define BIG_MAX (1200u * 1024u)
/* Both copies live in the domain's free RAM past its image (the scenario gives it 4 MiB), not in
 * its .bss: every MAC scenario runs this image, most in 1 MiB. */
static uint8_t *big, *big_back;

static uint32_t build_big(void)
{
    const uint8_t *b = blob_mac_test;
    const uint32_t s = get_be32(b + 28), ts = get_be32(b + s + 8), rs = get_be32(b + s + 12);
    const uint32_t e = s + ((ACM_STE_HEADER_SIZE + 2u * ts * rs + 7u) & ~7u);
    const uint32_t rows = rs + BIG_EXTRA_ROWS;
    const uint32_t ne = s + ((ACM_STE_HEADER_SIZE + 2u * BIG_TYPES * rows + 7u) & ~7u);
    const uint32_t size = ne + ((uint32_t)sizeof(blob_mac_test) - e);
    if (size > BIG_MAX || ts > BIG_TYPES)
        return 0;
    const uint8_t *from = b + s + ACM_STE_HEADER_SIZE;
    uint8_t *to = big + s + ACM_STE_HEADER_SIZE;
    memset(big, 0, size);
    memset(big_back, 0xff, BIG_MAX); /* getpolicy must write every byte, the magic's 0 included */
    memcpy(big, b, s + ACM_STE_HEADER_SIZE);
    put_be32(big + 8, size);
    put_be32(big + s + 8, BIG_TYPES);
    put_be32(big + s + 12, rows);
    for (uint32_t r = 0; r < rs; r++)
        memcpy(to + 2u * r * BIG_TYPES, from + 2u * r * ts, 2u * ts);
    for (uint32_t r = rs; r < rows; r++)
        to[2u * (r * BIG_TYPES + r % BIG_TYPES) + 1] = 1;
    memcpy(big + ne, b + e, sizeof(blob_mac_test) - e);
    return size;
}

static void large_policy(void)
{
    uint64_t heap = (start_info->heap_start + GUEST_PAGE_SIZE - 1) & ~(uint64_t)(GUEST_PAGE_SIZE - 1);
    uint64_t heap_end = start_info->stack_top - (GUEST_STACK_PAGES + 1) * GUEST_PAGE_SIZE;
    xtf_assert(heap + 2u * BIG_MAX <= heap_end, "no room for two copies of a large policy (give ctl 4 MiB)");
    big = (uint8_t *)(uintptr_t)heap;
    big_back = big + BIG_MAX;
    uint32_t size = build_big(), len = 0, before[2], after[2];
    struct acm_setpolicy sp;
    xtf_assert(size > (1u << 20) + 4096, "the large policy is only %u bytes", size);
    xtf_check_eq(acm_getdecision(BLOB_MAC_TEST_SSID_RED, BLOB_MAC_TEST_SSID_BLUE, ACM_HOOK_EVTCHN_BIND, &before[0]), 0);
    xtf_check_eq(acm_getdecision(BLOB_MAC_TEST_SSID_SYSTEM, BLOB_MAC_TEST_SSID_RED, ACM_HOOK_EVTCHN_BIND, &before[1]), 0);
    xtf_check_eq(acm_setpolicy(big, size, ACM_MODE_REFUSE, NULL, 0, &sp), 0);
    xtf_check_eq(acm_getpolicy(big_back, BIG_MAX, &len), 0);
    xtf_check(len == size && memcmp(big_back, big, size) == 0, "getpolicy does not return the large policy");
    /* It decides as the boot policy does. */
    xtf_check_eq(acm_getdecision(BLOB_MAC_TEST_SSID_RED, BLOB_MAC_TEST_SSID_BLUE, ACM_HOOK_EVTCHN_BIND, &after[0]), 0);
    xtf_check_eq(acm_getdecision(BLOB_MAC_TEST_SSID_SYSTEM, BLOB_MAC_TEST_SSID_RED, ACM_HOOK_EVTCHN_BIND, &after[1]), 0);
    xtf_check(before[0] == ACM_ACCESS_DENIED && before[1] == ACM_ACCESS_PERMITTED && after[0] == before[0] &&
                  after[1] == before[1],
              "decisions %u %u under the large policy, %u %u under the boot policy", after[0], after[1], before[0],
              before[1]);
    xtf_check_eq(acm_setpolicy(blob_mac_test, sizeof(blob_mac_test), ACM_MODE_REFUSE, NULL, 0, &sp), 0);
    xtf_check(live_is(blob_mac_test, sizeof(blob_mac_test)), "the boot policy is not back");
    printf("policy: a policy of %u bytes loaded, read back whole and replaced\n", size);
}

void suite_policy(void)
{
    char cmd[64];
    uint32_t len = 0;
    /* Item 24 at boot: the live blob is the one the tools compiled from the scenario's policy. */
    xtf_check(live_is(blob_mac_test, sizeof(blob_mac_test)), "the boot policy is not mac-test.toml's blob");
    xtf_check_eq(acm_getpolicy(buf, 16, &len), -XEN_ENOSPC);
    xtf_check_eq(len, sizeof(blob_mac_test));

    domid_t red = child(BLOB_MAC_TEST_SSID_RED, "watch-red", "mode=watch");
    snprintf(cmd, sizeof(cmd), "mode=grant to=%u refs=1", SELF);
    domid_t gr = child(BLOB_MAC_TEST_SSID_RED, "grant-red", cmd);
    getssid(red);
    refused_blobs(red);
    hard_violations();

    /* Live sharing that mac-test-split.toml forbids: a channel, our mapping, a mapping of ours. */
    evtchn_port_t rp, lp = channel(red, &rp);
    /* The watcher sends once it has seen the channel bound; only then may anything revoke it (one
     * revoked before the watcher first looked would never be seen, and the watcher would wait in
     * vain). The pending bit is cleared again, so that the one the revocation sets is its own. */
    xtf_assert(wait_pending(lp), "the watcher never said it saw its channel");
    ev_clear_pending(lp);
    if (!gnt_wait_table(gr, 1)) {
        xtf_error("Error: grant-red never set up its table\n");
        return;
    }
    grant_handle_t h;
    xtf_assert(gnt_map(gr, GNTTAB_NR_RESERVED_ENTRIES, GRANT_VA(0), &h) == GNTST_okay, "map of grant-red's ref");
    own_page[0] = MARKER;
    gnt_own_setup(1);
    snprintf(cmd, sizeof(cmd), "mode=maptouch from=%u ref=%u", SELF, GNTTAB_NR_RESERVED_ENTRIES);
    domid_t toucher = DOMID_INVALID;
    xtf_assert(child_try(BLOB_MAC_TEST_SSID_RED, "toucher", cmd, &toucher) == 0, "create toucher");
    struct grant_entry_v1 *e = gnt_own_entry(GNTTAB_NR_RESERVED_ENTRIES);
    e->domid = toucher;
    e->frame = (uint32_t)pfn_of((const void *)own_page);
    __atomic_store_n(&e->flags, (uint16_t)GTF_permit_access, __ATOMIC_SEQ_CST);
    xtf_assert(wait_reading(GNTTAB_NR_RESERVED_ENTRIES, true), "the toucher never mapped our grant");

    /* Items 16 and 17, refuse mode: the tuples, and the old policy still enforced. */
    struct acm_violation v[8];
    struct acm_setpolicy sp;
    memset(v, 0, sizeof(v));
    xtf_check_eq(acm_setpolicy(blob_mac_test_split, SPLIT_SIZE, ACM_MODE_REFUSE, v, 8, &sp), -XEN_EBUSY);
    xtf_check_eq(sp.nr_errors, 3);
    xtf_check(has(v, 3, ACM_EVTCHN_SHARING_VIOLATION, (uint32_t)SELF << 16 | red), "no (0x100, %u<<16|%u)", SELF, red);
    xtf_check(has(v, 3, ACM_GNTTAB_SHARING_VIOLATION, (uint32_t)SELF << 16 | gr), "no (0x101, %u<<16|%u)", SELF, gr);
    xtf_check(has(v, 3, ACM_GNTTAB_SHARING_VIOLATION, (uint32_t)toucher << 16 | SELF), "no (0x101, %u<<16|%u)",
              toucher, SELF);
    for (int i = 0; i < 3; i++)
        printf("policy: refuse: violation (%#x, %#010x)\n", v[i].code, v[i].param);
    /* The caller's buffer is respected: one entry asked for, one written (the count still says 3);
     * with no buffer, whatever max_errors says, nothing is written and nothing faults. */
    memset(v, 0, sizeof(v));
    xtf_check_eq(acm_setpolicy(blob_mac_test_split, SPLIT_SIZE, ACM_MODE_REFUSE, v, 1, &sp), -XEN_EBUSY);
    xtf_check_eq(sp.nr_errors, 3);
    xtf_check(v[0].code != 0 && v[1].code == 0 && v[1].param == 0, "max_errors 1: entries %#x and %#x written",
              v[0].code, v[1].code);
    xtf_check_eq(acm_setpolicy(blob_mac_test_split, SPLIT_SIZE, ACM_MODE_REFUSE, NULL, 8, &sp), -XEN_EBUSY);
    xtf_check_eq(sp.nr_errors, 3);
    printf("policy: refuse: the violation buffer's size respected\n");
    xtf_check(live_is(blob_mac_test, sizeof(blob_mac_test)), "the live policy changed");
    struct evtchn_status st;
    xtf_check_eq(ev_status(SELF, lp, &st), 0);
    xtf_check_eq(st.status, EVTCHNSTAT_interdomain);
    xtf_check_eq(ev_alloc(gr, SELF, NULL), 0);
    xtf_check_eq(*(volatile uint64_t *)GRANT_VA(0), MARKER);

    /* Revoke mode: installed, and exactly the forbidden sharing taken away. */
    struct acm_stats s0 = mac_stats();
    memset(&sp, 0, sizeof(sp));
    xtf_check_eq(acm_setpolicy(blob_mac_test_split, SPLIT_SIZE, ACM_MODE_REVOKE, v, 8, &sp), 0);
    xtf_check_eq(sp.nr_errors, 0);
    xtf_check_eq(sp.revoked_evtchn, 1);
    xtf_check_eq(sp.revoked_grants, 2);
    printf("policy: revoke: %u channels, %u grant mappings\n", sp.revoked_evtchn, sp.revoked_grants);
    xtf_check_eq(ev_status(SELF, lp, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == DOMID_INVALID, "our end: %u/%#x", st.status,
              st.u.unbound.dom);
    xtf_check(ev_pending(lp), "our revoked end is not pending");
    xtf_check_eq(gnt_unmap(h), GNTST_revoked);
    xtf_check_eq(gnt_unmap(h), GNTST_bad_handle);
    xtf_check(wait_reading(GNTTAB_NR_RESERVED_ENTRIES, false), "our grant still shows GTF_reading");
    xtf_check(wait_gone(toucher), "the toucher survived the revocation of its mapping");
    xtf_check(wait_gone(red), "the watcher did not notice");
    xtf_check(live_is(blob_mac_test_split, SPLIT_SIZE), "getpolicy does not return the loaded blob");
    xtf_check_eq(ev_alloc(gr, SELF, NULL), -XEN_EACCES);
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(s1.policy_loads - s0.policy_loads, 1);
    xtf_check_eq(s1.revoked_evtchn - s0.revoked_evtchn, 1);
    xtf_check_eq(s1.revoked_grants - s0.revoked_grants, 2);
    (void)rp;

    /* Back to the boot policy: nothing left to refuse. */
    xtf_check_eq(acm_setpolicy(blob_mac_test, sizeof(blob_mac_test), ACM_MODE_REFUSE, NULL, 0, &sp), 0);
    xtf_check_eq(ev_alloc(gr, SELF, NULL), 0);
    kill(gr);
    large_policy();
}
