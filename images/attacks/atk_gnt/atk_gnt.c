// SPDX-License-Identifier: MIT
// Grant-table attacks of the classes in Xen's advisories (XSA numbers in each name's comment):
// refs, handles, pins, maptrack, copy, setup and entries rewritten under a pin. One domain plays
// both sides: it grants pages to itself and maps them, which the hypervisor mediates exactly as
// between two domains (same checks, same pins). Label red.
#include <moat/gnttab.h>

#include "../common/attack.h"

#define REF0 GNTTAB_NR_RESERVED_ENTRIES
#define NR_DATA 10
#define VA(i) (GUEST_GRANT_VA + (uint64_t)(i) * GUEST_PAGE_SIZE)

static uint8_t table[2][GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t data[NR_DATA][GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t other[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t buf[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static grant_handle_t handles[GNTTAB_MAPTRACK_MAX + 1];

static int16_t map(grant_ref_t ref, uint64_t va, bool ro, grant_handle_t *h)
{
    return gnttab_map(DOMID_SELF, ref, va, ro, h);
}

static int16_t copy(grant_ref_t ref, uint16_t offset, uint16_t len)
{
    struct gnttab_copy c = {.len = len, .flags = GNTCOPY_source_gref};
    c.source.u.ref = ref;
    c.source.domid = DOMID_SELF;
    c.source.offset = offset;
    c.dest.u.gmfn = gnttab_pfn_of(buf);
    c.dest.domid = DOMID_SELF;
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, &c, 1);
    return rc ? (int16_t)rc : c.status;
}

static void before_setup(void)
{
    /* XSA-134/232: operations on a grant table that does not exist yet. */
    grant_handle_t h;
    int16_t m = map(REF0, VA(0), true, &h), c = copy(REF0, 0, 8);
    struct gnttab_query_size q = {.dom = DOMID_SELF};
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_query_size, &q, 1);
    verdict("gnt-ops-before-setup", m == GNTST_general_error && c == GNTST_general_error && rc == 0 &&
                                        q.status == GNTST_okay && q.nr_frames == 0,
            "map %d copy %d query %ld/%d frames %u", m, c, rc, q.status, q.nr_frames);
}

static void refs_and_addresses(void)
{
    grant_handle_t h;
    uint32_t n = gnttab_nr_entries();
    /* XSA-18: out-of-range refs, on every op that takes one. */
    bool bad = map(n, VA(0), true, &h) == GNTST_bad_gntref && map(0xffffffffu, VA(0), true, &h) == GNTST_bad_gntref &&
               copy(n, 0, 8) == GNTST_bad_gntref && copy(0xffffffffu, 0, 8) == GNTST_bad_gntref;
    verdict("gnt-ref-out-of-range", bad, "an out-of-range ref was not bad_gntref");
    /* XSA-227: misaligned or foreign host addresses, and one already in use. */
    int16_t a = map(REF0, VA(0) + 1, true, &h), b = map(REF0, GUEST_RAM_VA, true, &h),
            c = map(REF0, GUEST_GRANT_VA + GUEST_GRANT_SIZE, true, &h);
    verdict("gnt-misaligned-or-foreign-address",
            a == GNTST_bad_virt_addr && b == GNTST_bad_virt_addr && c == GNTST_bad_virt_addr,
            "statuses %d %d %d", a, b, c);
    int16_t first = map(REF0, VA(0), true, &h), again = map(REF0, VA(0), true, NULL);
    /* XSA-234: unmapping with another address must not take the mapping down. */
    int16_t wrong = gnttab_unmap(h, VA(1));
    bool still = *(volatile uint8_t *)VA(0) == data[0][0];
    int16_t right = gnttab_unmap(h, VA(0));
    verdict("gnt-map-over-a-mapping", first == GNTST_okay && again == GNTST_bad_virt_addr, "%d then %d", first, again);
    verdict("gnt-unmap-wrong-address", wrong == GNTST_general_error && still && right == GNTST_okay,
            "unmap at another address %d (mapping kept: %d), then %d", wrong, still, right);
    /* XSA-218: a handle unmapped twice; forged handles. */
    int16_t twice = gnttab_unmap(h, VA(0));
    verdict("gnt-double-unmap", twice == GNTST_bad_handle, "the second unmap gave %d", twice);
    bool forged = gnttab_unmap(0xffffffffu, 0) == GNTST_bad_handle && gnttab_unmap(GNTTAB_MAPTRACK_MAX, 0) ==
                  GNTST_bad_handle && gnttab_unmap(GNTTAB_MAPTRACK_MAX - 1, 0) == GNTST_bad_handle;
    verdict("gnt-forged-handle", forged, "a forged handle was accepted");
}

static void access_rights(void);
static void access_rights(void)
{
    grant_handle_t h;
    grant_ref_t ro = REF0 + 1, code = REF0 + 2, trans = REF0 + 3;
    gnttab_grant_ref(ro, start_info->domid, gnttab_pfn_of(data[1]), true);
    int16_t w = map(ro, VA(2), false, &h);
    verdict("gnt-readonly-mapped-writable", w == GNTST_general_error, "status %d", w);
    /* Our own code page, offered writable: the hypervisor must not make it writable. */
    gnttab_grant_ref(code, start_info->domid, gnttab_pfn_of((const void *)(uintptr_t)access_rights), false);
    int16_t wc = map(code, VA(2), false, &h);
    verdict("gnt-code-page-writable", wc == GNTST_general_error, "status %d", wc);
    /* XSA-226: transitive grants (Xen's v2 type 3) do not exist here. */
    struct grant_entry_v1 *e = gnttab_entry(trans);
    e->domid = start_info->domid;
    e->frame = (uint32_t)gnttab_pfn_of(data[2]);
    __atomic_store_n(&e->flags, (uint16_t)3, __ATOMIC_RELEASE);
    int16_t t = map(trans, VA(2), true, &h);
    verdict("gnt-transitive-entry", t == GNTST_general_error, "status %d", t);
    /* XSA-236/295: rewriting an entry while it is pinned gains nothing. */
    grant_ref_t r = REF0 + 4;
    gnttab_grant_ref(r, start_info->domid, gnttab_pfn_of(data[3]), true);
    grant_handle_t h1, h2;
    int16_t s1 = map(r, VA(3), true, &h1);
    e = gnttab_entry(r);
    e->frame = (uint32_t)gnttab_pfn_of(other);
    __atomic_store_n(&e->flags, (uint16_t)GTF_permit_access, __ATOMIC_RELEASE); /* no longer read-only */
    int16_t s2 = map(r, VA(4), false, &h2);
    int16_t s3 = map(r, VA(4), true, &h2);
    bool same = s3 == GNTST_okay && *(volatile uint8_t *)VA(4) == data[3][0];
    verdict("gnt-entry-rewritten-while-pinned", s1 == GNTST_okay && s2 == GNTST_general_error && same,
            "first %d, writable %d, read-only %d (same page %d)", s1, s2, s3, same);
    gnttab_unmap(h1, VA(3));
    if (s3 == GNTST_okay)
        gnttab_unmap(h2, VA(4));
}

static void pins_and_maptrack(void)
{
    /* XSA-295: counters cannot wrap: at most 127 pins of one ref. */
    grant_ref_t r = REF0 + 5;
    gnttab_grant_ref(r, start_info->domid, gnttab_pfn_of(data[4]), true);
    unsigned ok = 0;
    int16_t last = GNTST_okay;
    for (unsigned i = 0; i < 200 && last == GNTST_okay; i++) {
        last = map(r, VA(16 + i), true, &handles[i]);
        ok += last == GNTST_okay;
    }
    for (unsigned i = 0; i < ok; i++)
        gnttab_unmap(handles[i], VA(16 + i));
    verdict("gnt-pin-limit", ok == 127 && last == GNTST_general_error, "%u pins, then %d", ok, last);
    /* XSA-228: the maptrack runs out cleanly, every handle is distinct, and it recovers. */
    for (unsigned i = 0; i < NR_DATA; i++)
        gnttab_grant_ref(REF0 + 10 + i, start_info->domid, gnttab_pfn_of(data[i]), true);
    unsigned n = 0;
    int16_t st = GNTST_okay;
    while (n <= GNTTAB_MAPTRACK_MAX && (st = map(REF0 + 10 + n % NR_DATA, VA(512 + n), true, &handles[n])) ==
                                          GNTST_okay)
        n++;
    bool distinct = true;
    static uint8_t seen[GNTTAB_MAPTRACK_MAX];
    for (unsigned i = 0; i < n && distinct; i++) {
        distinct = handles[i] < GNTTAB_MAPTRACK_MAX && !seen[handles[i]];
        if (distinct)
            seen[handles[i]] = 1;
    }
    for (unsigned i = 0; i < n; i++)
        gnttab_unmap(handles[i], VA(512 + i));
    grant_handle_t h;
    int16_t after = map(REF0 + 10, VA(512), true, &h);
    if (after == GNTST_okay)
        gnttab_unmap(h, VA(512));
    verdict("gnt-maptrack-exhaustion", n == GNTTAB_MAPTRACK_MAX && st == GNTST_no_space && distinct &&
                                           after == GNTST_okay,
            "%u mappings, then %d (distinct %d), after unmapping all %d", n, st, distinct, after);
}

static void copies_and_batches(void)
{
    grant_ref_t r = REF0 + 6;
    gnttab_grant_ref(r, start_info->domid, gnttab_pfn_of(data[5]), true);
    int16_t a = copy(r, 4095, 2), b = copy(r, 0, 4097), c = copy(r, 0xffff, 0xffff);
    verdict("gnt-copy-out-of-page", a == GNTST_bad_copy_arg && b == GNTST_bad_copy_arg && c == GNTST_bad_copy_arg,
            "statuses %d %d %d", a, b, c);
    /* XSA-316/318: in a batch, every element gets its own status, none positive. */
    struct gnttab_copy ops[4];
    memset(ops, 0, sizeof(ops));
    for (unsigned i = 0; i < 4; i++) {
        ops[i].flags = GNTCOPY_source_gref;
        ops[i].source.u.ref = r;
        ops[i].source.domid = DOMID_SELF;
        ops[i].dest.u.gmfn = gnttab_pfn_of(buf);
        ops[i].dest.domid = DOMID_SELF;
        ops[i].len = 16;
        ops[i].status = 1;
    }
    ops[1].source.u.ref = 0xfffffff0u;
    ops[2].source.offset = 4090;
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, ops, 4);
    verdict("gnt-copy-batch-statuses", rc == 0 && ops[0].status == GNTST_okay && ops[1].status == GNTST_bad_gntref &&
                                           ops[2].status == GNTST_bad_copy_arg && ops[3].status == GNTST_okay,
            "rc %ld statuses %d %d %d %d", rc, ops[0].status, ops[1].status, ops[2].status, ops[3].status);
    /* XSA-24/380: batch counts are bounded. */
    long big = HYPERVISOR_grant_table_op(GNTTABOP_copy, ops, GNTTAB_MAX_BATCH + 1);
    long huge = HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, ops, 0x80000000u);
    long none = HYPERVISOR_grant_table_op(GNTTABOP_copy, ops, 0);
    verdict("gnt-batch-count", big == -XEN_EINVAL && huge == -XEN_EINVAL && none == 0, "%ld %ld %ld", big, huge,
            none);
    /* setup_table: no frames, more than the maximum, shrinking, another domain's frames. */
    uint64_t pfns[2] = {gnttab_pfn_of(table[0]), gnttab_pfn_of(table[1])};
    struct gnttab_setup_table s = {.dom = DOMID_SELF, .nr_frames = 0, .frame_list = (uint64_t)(uintptr_t)pfns};
    HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1);
    int16_t zero = s.status;
    s.nr_frames = 1000;
    HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1);
    int16_t many = s.status;
    pfns[0] = 1u << 30;
    s.nr_frames = 1;
    HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1);
    int16_t moved = s.status;
    verdict("gnt-setup-bad-sizes", zero == GNTST_general_error && many == GNTST_general_error && moved != GNTST_okay,
            "0 frames %d, 1000 frames %d, another frame %d", zero, many, moved);
}

int main(const struct start_info *si)
{
    (void)si;
    for (unsigned i = 0; i < NR_DATA; i++)
        memset(data[i], 0x10 + (int)i, sizeof(data[i]));
    memset(other, 0xee, sizeof(other));
    before_setup();
    if (gnttab_setup(table, 1, 2) != GNTST_okay) {
        printf("atk_gnt: setup_table failed\n");
        return 1;
    }

    for (grant_ref_t r = REF0; r < REF0 + 10 + NR_DATA; r++)
        gnttab_claim_ref(r);
    gnttab_grant_ref(REF0, start_info->domid, gnttab_pfn_of(data[0]), true);
    refs_and_addresses();
    access_rights();
    pins_and_maptrack();
    copies_and_batches();
    return 0;
}
