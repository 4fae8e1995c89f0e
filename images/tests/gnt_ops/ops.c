// SPDX-License-Identifier: MIT
// part=ops: every grant op and error path, in the reference's acceptance-test order (items 1-3,
// 5-14, 16, 17, 19 sequentially, 21). Each block prints "item <n> done" so the boot test can see
// that it ran. Data pages of the peer used here: 0 (map/write), 1-3 (copy), 4 (end access),
// 5 (rewrite in place), 6 (rewrite under a writable pin, the granter's own copy), 7 (pins).
#include <moat/hypercall.h>

#include "client.h"

#define st_is(actual, expected)                                                                          \
    ({                                                                                                   \
        int16_t st_a_ = (actual), st_e_ = (expected);                                                    \
        xtf_check(st_a_ == st_e_, "%s: %s (%d), expected %s", #actual, gnttab_status_name(st_a_), st_a_, \
                  gnttab_status_name(st_e_));                                                            \
    })

#define MAX_GRANT_FRAMES 2 /* the scenario's max_grant_frames for this domain */

static uint8_t own_table[MAX_GRANT_FRAMES + 1][GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t own_page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t buf[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));

static domid_t self(void) { return start_info->domid; }

static int16_t copy_raw(struct gnttab_copy *op)
{
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, op, 1);
    return rc < 0 ? (int16_t)-1000 : op->status;
}

static struct gnttab_copy copy_ref_to_own(domid_t dom, grant_ref_t ref, uint16_t soff, uint16_t doff, uint16_t len)
{
    return (struct gnttab_copy){ .source = { .u.ref = ref, .domid = dom, .offset = soff },
                                 .dest = { .u.gmfn = gnttab_pfn_of(buf), .domid = DOMID_SELF, .offset = doff },
                                 .len = len, .flags = GNTCOPY_source_gref };
}

static int16_t setup_raw(domid_t dom, const uint64_t *pfns, uint32_t nr, unsigned count)
{
    struct gnttab_setup_table op[2] = { { .dom = dom, .nr_frames = nr, .frame_list = (uint64_t)(uintptr_t)pfns },
                                        { .dom = dom, .nr_frames = nr, .frame_list = (uint64_t)(uintptr_t)pfns } };
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, op, count);
    return rc < 0 ? (int16_t)rc : op[0].status;
}

/* Item 11: every op on a table that does not exist yet fails cleanly. */
static void before_setup(void)
{
    uint32_t nr = 99, max = 99;
    st_is(gnttab_query_size(DOMID_SELF, &nr, &max), GNTST_okay);
    xtf_check_eq(nr, 0);
    xtf_check_eq(max, MAX_GRANT_FRAMES);
    uint64_t va = gnt_va();
    st_is(gnttab_map(DOMID_SELF, GNT_CTL_REF, va, false, NULL), GNTST_general_error);
    st_is(gnttab_map(self(), 0xffffffffu, va, true, NULL), GNTST_general_error);
    struct gnttab_copy op = copy_ref_to_own(DOMID_SELF, GNT_CTL_REF, 0, 0, 8);
    st_is(copy_raw(&op), GNTST_general_error);
    st_is(gnttab_copy_to_ref(self(), GNT_CTL_REF, 0, buf, 8), GNTST_general_error);
    gnttab_va_free(va);
    printf("item 11 done\n");
}

/* Item 3, set-up side: sizes, limits, growing, and foreign tables. */
static void setup_and_query(struct gnt_conn *c)
{
    uint64_t pfns[MAX_GRANT_FRAMES + 1];
    for (unsigned i = 0; i <= MAX_GRANT_FRAMES; i++)
        pfns[i] = gnttab_pfn_of(own_table[i]);
    st_is(setup_raw(DOMID_SELF, pfns, MAX_GRANT_FRAMES + 1, 1), GNTST_general_error); /* > max */
    st_is(setup_raw(DOMID_SELF, pfns, 0, 1), GNTST_general_error);
    uint64_t bad[2] = { start_info->nr_pages, pfns[0] };
    st_is(setup_raw(DOMID_SELF, bad, 1, 1), GNTST_bad_page); /* not our RAM */
    uint64_t code[1] = { gnttab_pfn_of((const void *)setup_and_query) };
    st_is(setup_raw(DOMID_SELF, code, 1, 1), GNTST_bad_page); /* our code: not writable by us */
    uint64_t dup[2] = { pfns[0], pfns[0] };
    st_is(setup_raw(DOMID_SELF, dup, 2, 1), GNTST_general_error);
    xtf_check_eq(setup_raw(DOMID_SELF, pfns, 1, 2), -XEN_EINVAL); /* setup takes exactly one */
    st_is(setup_raw(c->peer, pfns, 1, 1), GNTST_permission_denied); /* someone else's table */
    st_is(setup_raw(50, pfns, 1, 1), GNTST_permission_denied); /* a free id: as a domain we may not touch */

    st_is(gnttab_setup(own_table, 1, MAX_GRANT_FRAMES), GNTST_okay);
    uint32_t nr = 0, max = 0;
    st_is(gnttab_query_size(DOMID_SELF, &nr, &max), GNTST_okay);
    xtf_check(nr == 1 && max == MAX_GRANT_FRAMES, "after setup: %u of %u frames", nr, max);
    st_is(gnttab_grow(2), GNTST_okay);
    st_is(gnttab_query_size(self(), &nr, &max), GNTST_okay);
    xtf_check_eq(nr, 2);
    xtf_check_eq(gnttab_nr_entries(), 2 * GNTTAB_ENTRIES_PER_FRAME);
    st_is(setup_raw(DOMID_SELF, pfns, 1, 1), GNTST_general_error); /* shrinking */
    st_is(setup_raw(DOMID_SELF, pfns, 2, 1), GNTST_okay);          /* the same frames again: no change */
    st_is(gnttab_query_size(DOMID_SELF, &nr, &max), GNTST_okay);
    xtf_check_eq(nr, 2);
    uint64_t moved[2] = { pfns[2], pfns[1] };
    st_is(setup_raw(DOMID_SELF, moved, 2, 1), GNTST_general_error); /* registered frames stay */
    st_is(gnttab_query_size(c->peer, &nr, &max), GNTST_okay);
    xtf_check_eq(nr, 1);
    st_is(gnttab_query_size(50, &nr, &max), GNTST_permission_denied); /* we may not read others' state */
    printf("item 3 (setup) done\n");
}

/* Item 3, copy side: gref -> gmfn, gmfn -> gref, gref -> gref, read-only refs. */
static void copies(struct gnt_conn *c)
{
    memset(buf, 0, sizeof(buf));
    st_is(gnttab_copy_from_ref(c->peer, GNT_DATA_REF + 1, 0, buf, GUEST_PAGE_SIZE), GNTST_okay);
    xtf_check_eq(((uint32_t *)buf)[0], GNT_PATTERN(1));
    xtf_check_eq(((uint32_t *)buf)[1023], GNT_PATTERN(1));
    uint32_t words[4] = { 0x11111111, 0x22222222, 0x33333333, 0x44444444 };
    st_is(gnttab_copy_to_ref(c->peer, GNT_DATA_REF + 1, 400, words, sizeof(words)), GNTST_okay);
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, GNT_DATA_REF + 1, 100, 0), 0x11111111);
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, GNT_DATA_REF + 1, 103, 0), 0x44444444);
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, GNT_DATA_REF + 1, 104, 0), GNT_PATTERN(1));
    struct gnttab_copy op = { .source = { .u.ref = GNT_DATA_REF + 2, .domid = c->peer, .offset = 8 },
                              .dest = { .u.ref = GNT_DATA_REF + 3, .domid = c->peer, .offset = 16 },
                              .len = 8, .flags = GNTCOPY_source_gref | GNTCOPY_dest_gref };
    st_is(copy_raw(&op), GNTST_okay);
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, GNT_DATA_REF + 3, 4, 0), GNT_PATTERN(2));
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, GNT_DATA_REF + 3, 6, 0), GNT_PATTERN(3));
    /* A read-only grant can be copied from, never to. */
    st_is(gnttab_copy_from_ref(c->peer, GNT_RO_REF(c->nr_data), 0, buf, 4), GNTST_okay);
    xtf_check_eq(((uint32_t *)buf)[0], GNT_PATTERN_RO);
    st_is(gnttab_copy_to_ref(c->peer, GNT_RO_REF(c->nr_data), 0, words, 4), GNTST_general_error);
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, GNT_RO_REF(c->nr_data), 0, 0), GNT_PATTERN_RO);
    /* A copy leaves no pin behind. */
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF + 1, 0, 0), GTF_permit_access);
    /* Our own gmfn may name us by our id as well as by DOMID_SELF. */
    op = copy_ref_to_own(c->peer, GNT_DATA_REF + 1, 0, 0, 4);
    op.dest.domid = self();
    memset(buf, 0, 4);
    st_is(copy_raw(&op), GNTST_okay);
    xtf_check_eq(((uint32_t *)buf)[0], GNT_PATTERN(1));
    /* A gmfn for anyone else is not ours to name. */
    op = copy_ref_to_own(c->peer, GNT_DATA_REF + 1, 0, 0, 4);
    op.dest.domid = c->peer;
    st_is(copy_raw(&op), GNTST_permission_denied);
    printf("item 3 (copy) done\n");
}

/* Items 1 and 2: map writable, write, the granter sees it; read-only grants stay read-only. */
static void map_write_unmap(struct gnt_conn *c)
{
    uint64_t va = gnt_va();
    grant_handle_t h;
    grant_ref_t ref = GNT_DATA_REF;
    if (!xtf_check(gnttab_map(c->peer, ref, va, false, &h) == GNTST_okay, "map RW"))
        return;
    volatile uint32_t *p = (volatile uint32_t *)va;
    xtf_check_eq(p[0], GNT_PATTERN(0));
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), GTF_permit_access | GTF_reading | GTF_writing);
    p[5] = 0xdeadbeef;
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, ref, 5, 0), 0xdeadbeef);
    gnt_call(c, GNT_CMD_WRITE, ref, 6, 0xfeedface);
    xtf_check_eq(p[6], 0xfeedface);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), GTF_permit_access);
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, ref, 5, 0), 0xdeadbeef);
    printf("item 1 done\n");

    grant_ref_t ro = GNT_RO_REF(c->nr_data);
    st_is(gnttab_map(c->peer, ro, va, false, &h), GNTST_general_error);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ro, 0, 0), GTF_permit_access | GTF_readonly);
    if (xtf_check(gnttab_map(c->peer, ro, va, true, &h) == GNTST_okay, "map RO")) {
        xtf_check_eq(*(volatile uint32_t *)va, GNT_PATTERN_RO);
        xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ro, 0, 0), GTF_permit_access | GTF_readonly | GTF_reading);
        st_is(gnttab_unmap(h, va), GNTST_okay);
    }
    /* A writable grant mapped read-only: reading only. */
    if (xtf_check(gnttab_map(c->peer, ref, va, true, &h) == GNTST_okay, "map RW grant RO")) {
        xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), GTF_permit_access | GTF_reading);
        st_is(gnttab_unmap(h, va), GNTST_okay);
    }
    gnttab_va_free(va);
    printf("item 2 done\n");
}

/* Items 5-8: bad refs, foreign entries, bad domains, bad flags. */
static void bad_arguments(struct gnt_conn *c)
{
    uint64_t va = gnt_va();
    uint32_t nr_entries = GNTTAB_ENTRIES_PER_FRAME; /* the peer registered one frame */
    grant_ref_t bad_refs[] = { nr_entries, nr_entries + 1, 0x80000000u, 0xffffffffu };
    for (unsigned i = 0; i < ARRAY_SIZE(bad_refs); i++) {
        grant_ref_t r = bad_refs[i];
        st_is(gnttab_map(c->peer, r, va, false, NULL), GNTST_bad_gntref);
        st_is(gnttab_map(c->peer, r, va, true, NULL), GNTST_bad_gntref);
        st_is(gnttab_copy_from_ref(c->peer, r, 0, buf, 4), GNTST_bad_gntref);
        st_is(gnttab_copy_to_ref(c->peer, r, 0, buf, 4), GNTST_bad_gntref);
    }
    printf("item 5 done\n");
    grant_ref_t foreign = GNT_FOREIGN_REF(c->nr_data), invalid = GNT_INVALID_REF(c->nr_data);
    st_is(gnttab_map(c->peer, foreign, va, false, NULL), GNTST_general_error);
    st_is(gnttab_map(c->peer, foreign, va, true, NULL), GNTST_general_error);
    st_is(gnttab_copy_from_ref(c->peer, foreign, 0, buf, 4), GNTST_general_error);
    st_is(gnttab_map(c->peer, invalid, va, true, NULL), GNTST_general_error);
    st_is(gnttab_map(c->peer, 3, va, true, NULL), GNTST_general_error); /* reserved, never granted */
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, foreign, 0, 0), GTF_permit_access);
    printf("item 6 done\n");
    /* Ids that name no domain: a domain without read_state cannot tell them from domains it may
     * not touch (docs/security.md), so they answer permission_denied, never bad_domain. */
    domid_t bad_doms[] = { 50, MOAT_MAX_DOMAINS, DOMID_XEN, DOMID_INVALID, 0x7fff, 0xffff };
    for (unsigned i = 0; i < ARRAY_SIZE(bad_doms); i++) {
        st_is(gnttab_map(bad_doms[i], GNT_DATA_REF, va, false, NULL), GNTST_permission_denied);
        st_is(gnttab_copy_from_ref(bad_doms[i], GNT_DATA_REF, 0, buf, 4), GNTST_permission_denied);
        st_is(gnttab_query_size(bad_doms[i], NULL, NULL), GNTST_permission_denied);
    }
    printf("item 7 done\n");
    struct gnttab_map_grant_ref op = { .host_addr = va, .flags = 0, .ref = GNT_DATA_REF, .dom = c->peer };
    HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    st_is(op.status, GNTST_bad_gntref);
    op.flags = GNTMAP_readonly;
    HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    st_is(op.status, GNTST_bad_gntref);
    op.flags = GNTMAP_device_map;
    HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    st_is(op.status, GNTST_general_error); /* no devices here */
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), GTF_permit_access);
    gnttab_va_free(va);
    printf("item 8 done\n");
}

/* Items 9 and 19 (sequential): handles. */
static void handles(struct gnt_conn *c)
{
    uint64_t va = gnt_va();
    grant_handle_t h;
    st_is(gnttab_map(c->peer, GNT_DATA_REF, va, true, &h), GNTST_okay);
    st_is(gnttab_unmap(h, va + GUEST_PAGE_SIZE), GNTST_general_error); /* not where it is mapped */
    xtf_check_eq(*(volatile uint32_t *)va, GNT_PATTERN(0));             /* still mapped */
    st_is(gnttab_unmap(h, va), GNTST_okay);
    st_is(gnttab_unmap(h, va), GNTST_bad_handle);
    st_is(gnttab_unmap(h, 0), GNTST_bad_handle);
    st_is(gnttab_unmap(h + 1, 0), GNTST_bad_handle); /* allocated page, never used */
    st_is(gnttab_unmap(5000, 0), GNTST_bad_handle);
    st_is(gnttab_unmap(0xffffffffu, 0), GNTST_bad_handle);
    /* A handle just past the maptrack pages allocated so far (128 entries a page) is no handle:
     * it must not wrap to entry 0 (our control page's mapping), which is in use. */
    for (grant_handle_t k = 128; k <= GNTTAB_MAPTRACK_MAX; k += 128)
        st_is(gnttab_unmap(k, 0), GNTST_bad_handle);
    xtf_check_eq(c->ctl->magic, GNT_RPC_MAGIC); /* the control page is still mapped */
    printf("item 9 done\n");
    /* Two unmaps of one handle in one batch: exactly one succeeds. */
    st_is(gnttab_map(c->peer, GNT_DATA_REF, va, true, &h), GNTST_okay);
    struct gnttab_unmap_grant_ref un[2] = { { .host_addr = va, .handle = h }, { .host_addr = va, .handle = h } };
    xtf_check_eq(gnttab_unmap_batch(un, 2), 0);
    st_is(un[0].status, GNTST_okay);
    st_is(un[1].status, GNTST_bad_handle);
    /* host_addr 0 takes a mapping down wherever it is (as Xen's): the unmap succeeds, and the
     * address is free for the next map. */
    st_is(gnttab_map(c->peer, GNT_DATA_REF, va, true, &h), GNTST_okay);
    st_is(gnttab_unmap(h, 0), GNTST_okay);
    st_is(gnttab_map(c->peer, GNT_DATA_REF, va, true, &h), GNTST_okay);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), GTF_permit_access);
    gnttab_va_free(va);
    printf("item 19 done\n");
}

/* Item 10: mapping our own grant is allowed (as in Xen since 0da81aa1d4) and balanced. */
static void own_grant(void)
{
    memset(own_page, 0x3c, sizeof(own_page));
    grant_ref_t ref = gnttab_grant_access(self(), own_page, false);
    xtf_assert(ref != GNTTAB_INVALID_REF, "no free ref");
    xtf_check_eq(ref, GNTTAB_NR_RESERVED_ENTRIES);
    uint64_t va = gnt_va(), va2 = gnt_va();
    grant_handle_t h, h2;
    st_is(gnttab_map(self(), ref, va, false, &h), GNTST_okay);
    st_is(gnttab_map(DOMID_SELF, ref, va2, true, &h2), GNTST_okay);
    *(volatile uint32_t *)va = 0x600df00d;
    xtf_check_eq(*(volatile uint32_t *)own_page, 0x600df00d);
    xtf_check_eq(*(volatile uint32_t *)va2, 0x600df00d);
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access | GTF_reading | GTF_writing);
    xtf_check(!gnttab_end_access(ref), "ended a grant while it is mapped");
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access | GTF_reading);
    st_is(gnttab_unmap(h2, va2), GNTST_okay);
    xtf_check(gnttab_end_access_free(ref), "end access after the last unmap");
    xtf_check_eq(gnttab_flags(ref), 0);
    /* The read-only mapping goes first: the writable one keeps both bits; then both go. */
    ref = gnttab_grant_access(self(), own_page, false);
    st_is(gnttab_map(self(), ref, va, false, &h), GNTST_okay);
    st_is(gnttab_map(self(), ref, va2, true, &h2), GNTST_okay);
    st_is(gnttab_unmap(h2, va2), GNTST_okay);
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access | GTF_reading | GTF_writing);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access);
    xtf_check(gnttab_end_access_free(ref), "end access after the last unmap");
    st_is(gnttab_map(self(), ref, va, true, &h), GNTST_general_error); /* ended */
    /* The other way round: a read-only pin first, then a writable one. The writable pin is the
     * first of its kind on an entry already pinned: it adds GTF_writing then, not at a second
     * writable pin, and its unmap takes only GTF_writing away again. */
    ref = gnttab_grant_access(self(), own_page, false);
    st_is(gnttab_map(self(), ref, va2, true, &h2), GNTST_okay);
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access | GTF_reading);
    st_is(gnttab_map(self(), ref, va, false, &h), GNTST_okay);
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access | GTF_reading | GTF_writing);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access | GTF_reading);
    st_is(gnttab_unmap(h2, va2), GNTST_okay);
    xtf_check(gnttab_end_access_free(ref), "end access after the last unmap");
    /* Read-only downgrade: refused while mapped writable, allowed when only read. */
    ref = gnttab_grant_access(self(), own_page, false);
    st_is(gnttab_map(self(), ref, va, false, &h), GNTST_okay);
    xtf_check(!gnttab_make_readonly(ref), "made a writably mapped grant read-only");
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check(gnttab_make_readonly(ref), "make_readonly of an unmapped grant");
    st_is(gnttab_map(self(), ref, va, false, &h), GNTST_general_error);
    xtf_check(gnttab_end_access_free(ref), "end access");
    gnttab_va_free(va);
    gnttab_va_free(va2);
    printf("item 10 done\n");
}

/*
 * Pages we may not write ourselves (our code) stay read-only through grants too: a writable grant
 * of one cannot be mapped writable (first pin or later), and a copy cannot write into one.
 */
static void readonly_pages(void)
{
    const void *code = (const void *)readonly_pages;
    uint64_t code_pfn = gnttab_pfn_of((const void *)((uintptr_t)code & ~(uintptr_t)4095));
    grant_ref_t ref = gnttab_grant_access(self(), (const void *)((uintptr_t)code & ~(uintptr_t)4095), false);
    xtf_assert(ref != GNTTAB_INVALID_REF, "no free ref");
    uint64_t va = gnt_va();
    grant_handle_t h, h2;
    st_is(gnttab_map(self(), ref, va, false, &h), GNTST_general_error); /* writable map of code */
    st_is(gnttab_map(self(), ref, va, true, &h), GNTST_okay);          /* reading it is fine */
    uint64_t va2 = gnt_va();
    st_is(gnttab_map(self(), ref, va2, false, &h2), GNTST_general_error); /* still, while pinned */
    xtf_check_eq(*(volatile uint8_t *)va, *(const volatile uint8_t *)((uintptr_t)code & ~(uintptr_t)4095));
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check(gnttab_end_access_free(ref), "end access");

    struct gnttab_copy op = {
        .source = { .u.gmfn = gnttab_pfn_of(own_page), .domid = DOMID_SELF },
        .dest = { .u.gmfn = code_pfn, .domid = DOMID_SELF },
        .len = 16,
    };
    xtf_check_eq(gnttab_copy_batch(&op, 1), 0);
    st_is(op.status, GNTST_bad_page); /* a copy into our own code */
    op.source.u.gmfn = code_pfn;
    op.dest.u.gmfn = gnttab_pfn_of(own_page);
    xtf_check_eq(gnttab_copy_batch(&op, 1), 0);
    st_is(op.status, GNTST_okay); /* a copy out of it */
    gnttab_va_free(va);
    gnttab_va_free(va2);
    printf("read-only pages done\n");
}

/*
 * PFNs outside our RAM, and the unmapped guard page below our stack, name no page: a copy from
 * or into one, or a grant of one mapped either way, is bad_page, never some other frame (the
 * first page of our RAM, or machine frame 0).
 */
static void pfn_bounds(void)
{
    uint64_t nr = start_info->nr_pages;
    uint64_t guard = (start_info->stack_top - GUEST_RAM_VA) / GUEST_PAGE_SIZE - GUEST_STACK_PAGES - 1;
    uint64_t bad[] = { nr, nr + 1, guard, 0xffffffffull, 1ull << 40, ~0ull };
    memset(buf, 0x5e, sizeof(buf));
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        struct gnttab_copy op = { .source = { .u.gmfn = bad[i], .domid = DOMID_SELF },
                                  .dest = { .u.gmfn = gnttab_pfn_of(buf), .domid = DOMID_SELF },
                                  .len = 8 };
        xtf_check_eq(gnttab_copy_batch(&op, 1), 0);
        xtf_check(op.status == GNTST_bad_page, "copy from pfn %#lx: %s", (unsigned long)bad[i],
                  gnttab_status_name(op.status));
        op.source.u.gmfn = gnttab_pfn_of(own_page);
        op.dest.u.gmfn = bad[i];
        xtf_check_eq(gnttab_copy_batch(&op, 1), 0);
        xtf_check(op.status == GNTST_bad_page, "copy into pfn %#lx: %s", (unsigned long)bad[i],
                  gnttab_status_name(op.status));
    }
    xtf_check_eq(buf[0], 0x5e);
    uint64_t va = gnt_va();
    for (unsigned i = 0; i < ARRAY_SIZE(bad) && bad[i] <= 0xffffffffull; i++) { /* frame is 32 bits */
        grant_ref_t ref = gnttab_alloc_ref();
        xtf_assert(ref != GNTTAB_INVALID_REF, "no free ref");
        gnttab_grant_ref(ref, self(), bad[i], false);
        grant_handle_t h;
        xtf_check(gnttab_map(self(), ref, va, true, &h) == GNTST_bad_page, "grant of pfn %#lx mapped read-only",
                  (unsigned long)bad[i]);
        xtf_check(gnttab_map(self(), ref, va, false, &h) == GNTST_bad_page, "grant of pfn %#lx mapped writable",
                  (unsigned long)bad[i]);
        xtf_check_eq(gnttab_flags(ref), GTF_permit_access);
        xtf_check(gnttab_end_access_free(ref), "end access");
    }
    gnttab_va_free(va);
    printf("pfn bounds done\n");
}

/* Item 12: copy bounds. */
static void copy_bounds(struct gnt_conn *c)
{
    grant_ref_t ref = GNT_DATA_REF + 1;
    struct gnttab_copy op = copy_ref_to_own(c->peer, ref, 4000, 0, 200);
    st_is(copy_raw(&op), GNTST_bad_copy_arg);
    op = copy_ref_to_own(c->peer, ref, 0, 4095, 2);
    st_is(copy_raw(&op), GNTST_bad_copy_arg);
    op = copy_ref_to_own(c->peer, ref, 0xffff, 0, 1);
    st_is(copy_raw(&op), GNTST_bad_copy_arg);
    op = copy_ref_to_own(c->peer, ref, 0, 0, 0xffff);
    st_is(copy_raw(&op), GNTST_bad_copy_arg);
    op = copy_ref_to_own(c->peer, ref, 4095, 4095, 1); /* the last byte: fine */
    st_is(copy_raw(&op), GNTST_okay);
    memset(buf, 0x77, 16);
    op = copy_ref_to_own(c->peer, ref, 0, 0, 0); /* len 0: okay and nothing copied, as in Xen */
    st_is(copy_raw(&op), GNTST_okay);
    xtf_check_eq(buf[0], 0x77);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), GTF_permit_access);
    printf("item 12 done\n");
}

/* Item 13: host addresses. */
static void host_addresses(struct gnt_conn *c)
{
    uint64_t va = gnt_va();
    grant_handle_t h;
    uint64_t bad[] = { va + 1, va + 2048, GUEST_GRANT_VA - GUEST_PAGE_SIZE, GUEST_GRANT_VA + GUEST_GRANT_SIZE,
                       GUEST_RAM_VA, (uint64_t)(uintptr_t)buf, 0, GUEST_VA_LIMIT, 0xffff800000000000ull,
                       0x0000800000001000ull, ~0xfffull };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
        xtf_check(gnttab_map(c->peer, GNT_DATA_REF, bad[i], true, NULL) == GNTST_bad_virt_addr,
                  "host_addr %#lx accepted", (unsigned long)bad[i]);
    /* The first page past the window sits in the same slot of its page directory as the window's
     * first page: an end bound off by one would map it there. So it is tried again while that
     * page is free (mapped and unmapped first to show it is; gnt_connect keeps the control page
     * off it), where such a map would succeed. */
    st_is(gnttab_map(c->peer, GNT_DATA_REF, GUEST_GRANT_VA, true, &h), GNTST_okay);
    st_is(gnttab_unmap(h, GUEST_GRANT_VA), GNTST_okay);
    st_is(gnttab_map(c->peer, GNT_DATA_REF, GUEST_GRANT_VA + GUEST_GRANT_SIZE, true, NULL), GNTST_bad_virt_addr);
    st_is(gnttab_map(c->peer, GNT_DATA_REF, va, true, &h), GNTST_okay);
    st_is(gnttab_map(c->peer, GNT_DATA_REF, va, true, NULL), GNTST_bad_virt_addr); /* in use */
    st_is(gnttab_unmap(h, va), GNTST_okay);
    uint64_t last = GUEST_GRANT_VA + GUEST_GRANT_SIZE - GUEST_PAGE_SIZE;
    st_is(gnttab_map(c->peer, GNT_DATA_REF, last, true, &h), GNTST_okay);
    xtf_check_eq(*(volatile uint32_t *)last, GNT_PATTERN(0));
    st_is(gnttab_unmap(h, last), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), GTF_permit_access);
    gnttab_va_free(va);
    printf("item 13 done\n");
}

/* Item 14: 127 pins of each kind, then general_error; all come back. */
static void pin_saturation(struct gnt_conn *c)
{
    enum { PINS = 127 };
    static grant_handle_t ro[PINS + 1], rw[PINS + 1];
    static uint64_t ro_va[PINS + 1], rw_va[PINS + 1];
    grant_ref_t ref = GNT_DATA_REF + 7;
    unsigned ro_ok = 0, rw_ok = 0;
    for (unsigned i = 0; i <= PINS; i++) {
        ro_va[i] = gnt_va();
        if (gnttab_map(c->peer, ref, ro_va[i], true, &ro[i]) == GNTST_okay)
            ro_ok++;
        rw_va[i] = gnt_va();
        if (gnttab_map(c->peer, ref, rw_va[i], false, &rw[i]) == GNTST_okay)
            rw_ok++;
    }
    xtf_check_eq(ro_ok, PINS);
    xtf_check_eq(rw_ok, PINS);
    st_is(gnttab_map(c->peer, ref, ro_va[PINS], true, NULL), GNTST_general_error);
    st_is(gnttab_map(c->peer, ref, rw_va[PINS], false, NULL), GNTST_general_error);
    ((volatile uint32_t *)rw_va[3])[0] = 0x12345678;
    xtf_check_eq(((volatile uint32_t *)ro_va[100])[0], 0x12345678);
    for (unsigned i = 0; i < PINS; i++) {
        st_is(gnttab_unmap(ro[i], ro_va[i]), GNTST_okay);
        st_is(gnttab_unmap(rw[i], rw_va[i]), GNTST_okay);
    }
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), GTF_permit_access);
    grant_handle_t h;
    st_is(gnttab_map(c->peer, ref, ro_va[0], false, &h), GNTST_okay);
    st_is(gnttab_unmap(h, ro_va[0]), GNTST_okay);
    for (unsigned i = 0; i <= PINS; i++) {
        gnttab_va_free(ro_va[i]);
        gnttab_va_free(rw_va[i]);
    }
    printf("item 14 done\n");
}

/* Item 16: batches get one status each, every one <= 0; the call's own errors. */
static void batches(struct gnt_conn *c)
{
    uint64_t va = gnt_va(), va2 = gnt_va();
    struct gnttab_map_grant_ref ops[6] = {
        { .host_addr = va, .flags = GNTMAP_host_map | GNTMAP_readonly, .ref = GNT_DATA_REF, .dom = c->peer },
        { .host_addr = va2, .flags = GNTMAP_host_map, .ref = 0xffffffffu, .dom = c->peer },
        { .host_addr = va2, .flags = GNTMAP_host_map, .ref = GNT_DATA_REF, .dom = 50 },
        { .host_addr = va2 + 1, .flags = GNTMAP_host_map, .ref = GNT_DATA_REF, .dom = c->peer },
        { .host_addr = va2, .flags = 0, .ref = GNT_DATA_REF, .dom = c->peer },
        { .host_addr = va2, .flags = GNTMAP_host_map, .ref = GNT_DATA_REF + 1, .dom = c->peer },
    };
    static const int16_t want[6] = { GNTST_okay, GNTST_bad_gntref, GNTST_permission_denied, GNTST_bad_virt_addr,
                                     GNTST_bad_gntref, GNTST_okay };
    for (unsigned i = 0; i < 6; i++) { /* anything the hypervisor leaves alone would show */
        ops[i].status = 1;
        ops[i].handle = 0xdead;
        ops[i].dev_bus_addr = 0xdead;
    }
    xtf_check_eq(gnttab_map_batch(ops, 6), 0);
    for (unsigned i = 0; i < 6; i++) {
        xtf_check(ops[i].status <= 0, "element %u: status %d > 0", i, ops[i].status);
        /* No device mappings here: dev_bus_addr is 0; a failed map's handle is 0 too. */
        xtf_check(ops[i].dev_bus_addr == 0, "element %u: dev_bus_addr %#lx", i, (unsigned long)ops[i].dev_bus_addr);
        xtf_check(ops[i].status == GNTST_okay || ops[i].handle == 0, "element %u failed with handle %#x", i,
                  ops[i].handle);
        xtf_check(ops[i].status == want[i], "element %u: %s, expected %s", i, gnttab_status_name(ops[i].status),
                  gnttab_status_name(want[i]));
    }
    struct gnttab_unmap_grant_ref un[3] = { { .host_addr = va, .handle = ops[0].handle },
                                            { .handle = 0xfffffff0u },
                                            { .host_addr = va2, .handle = ops[5].handle } };
    xtf_check_eq(gnttab_unmap_batch(un, 3), 0);
    st_is(un[0].status, GNTST_okay);
    st_is(un[1].status, GNTST_bad_handle);
    st_is(un[2].status, GNTST_okay);
    /* A batch is its count of elements, not one more: the element just past it is left alone. */
    struct gnttab_unmap_grant_ref two[3];
    for (unsigned i = 0; i < 3; i++)
        two[i] = (struct gnttab_unmap_grant_ref){ .handle = 0xfffffff0u, .status = 1 };
    xtf_check_eq(gnttab_unmap_batch(two, 2), 0);
    st_is(two[0].status, GNTST_bad_handle);
    st_is(two[1].status, GNTST_bad_handle);
    xtf_check_eq(two[2].status, 1);
    /* The largest batch the call takes (GNTTAB_MAX_BATCH elements) is done whole. */
    static struct gnttab_unmap_grant_ref many[GNTTAB_MAX_BATCH];
    for (unsigned i = 0; i < GNTTAB_MAX_BATCH; i++)
        many[i] = (struct gnttab_unmap_grant_ref){ .handle = 0xfffffff0u, .status = 1 };
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, many, GNTTAB_MAX_BATCH), 0);
    unsigned answered = 0;
    for (unsigned i = 0; i < GNTTAB_MAX_BATCH; i++)
        answered += many[i].status == GNTST_bad_handle;
    xtf_check_eq(answered, GNTTAB_MAX_BATCH);
    /* A bad element ends a batch with -EFAULT, the ones before it done and reported: two unmaps,
     * the first in the last words of a mapped page (our own, granted to ourselves), the second on
     * the window's next page, which nothing maps. */
    grant_ref_t own = gnttab_grant_access(self(), own_page, false);
    uint64_t edge_va = gnt_va(), unmapped_va = gnt_va();
    xtf_assert(own != GNTTAB_INVALID_REF && unmapped_va == edge_va + GUEST_PAGE_SIZE, "a ref and two pages in a row");
    grant_handle_t edge_h;
    st_is(gnttab_map(self(), own, edge_va, false, &edge_h), GNTST_okay);
    struct gnttab_unmap_grant_ref *edge = (void *)(uintptr_t)(unmapped_va - sizeof(*edge));
    *edge = (struct gnttab_unmap_grant_ref){ .handle = 0xfffffff0u, .status = 1 };
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, edge, 2), -XEN_EFAULT);
    st_is(edge->status, GNTST_bad_handle);
    st_is(gnttab_unmap(edge_h, edge_va), GNTST_okay);
    xtf_check(gnttab_end_access_free(own), "end access after the unmap");
    gnttab_va_free(edge_va);
    gnttab_va_free(unmapped_va);
    /* The call's own errors: a count beyond the limit, an unknown op, a bad array. */
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, ops, GNTTAB_MAX_BATCH + 1), -XEN_EINVAL);
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, ops, 0), 0);
    xtf_check_eq(HYPERVISOR_grant_table_op(3, ops, 1), -XEN_ENOSYS);  /* dump_table: not here */
    xtf_check_eq(HYPERVISOR_grant_table_op(4, ops, 1), -XEN_ENOSYS);  /* transfer: not implemented */
    xtf_check_eq(HYPERVISOR_grant_table_op(99, ops, 1), -XEN_ENOSYS);
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, (void *)0x1000, 1), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_copy, (void *)0xffff800000000000ull, 1), -XEN_EFAULT);
    /* The element's own range (copied inline as whole words): not from 0, not across the top of
     * the guest half, whose last page is never mapped (so its last words fault instead). */
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, NULL, 1), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, (void *)(GUEST_VA_LIMIT - 8), 1), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, (void *)(GUEST_VA_LIMIT - 32), 1), -XEN_EFAULT);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), GTF_permit_access);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF + 1, 0, 0), GTF_permit_access);
    gnttab_va_free(va);
    gnttab_va_free(va2);
    printf("item 16 done\n");
}

/* Item 17: the granter cannot end a grant while it is mapped. */
static void end_while_mapped(struct gnt_conn *c)
{
    grant_ref_t ref = GNT_DATA_REF + 4;
    uint64_t va = gnt_va();
    grant_handle_t h;
    st_is(gnttab_map(c->peer, ref, va, false, &h), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_END, ref, 0, 0), 0);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), GTF_permit_access | GTF_reading | GTF_writing);
    *(volatile uint32_t *)va = 0xabcdef01; /* still ours to use */
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_END, ref, 0, 0), 1);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), 0);
    st_is(gnttab_map(c->peer, ref, va, false, &h), GNTST_general_error);
    xtf_check_eq(gnt_call(c, GNT_CMD_GRANT, ref, self(), 0), 0);
    st_is(gnttab_map(c->peer, ref, va, false, &h), GNTST_okay);
    xtf_check_eq(*(volatile uint32_t *)va, 0xabcdef01);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    gnttab_va_free(va);
    printf("item 17 done\n");
}

/* Item 21: rewriting a pinned entry widens nothing and moves nothing. */
static void rewrite_pinned(struct gnt_conn *c)
{
    grant_ref_t ro = GNT_RO_REF(c->nr_data);
    uint64_t va = gnt_va(), va2 = gnt_va();
    grant_handle_t h, h2;
    st_is(gnttab_map(c->peer, ro, va, true, &h), GNTST_okay);
    /* The granter makes the entry writable and points it at data page 5. */
    gnt_call(c, GNT_CMD_REWRITE, ro, 5, GTF_permit_access);
    st_is(gnttab_map(c->peer, ro, va2, false, &h2), GNTST_general_error);
    st_is(gnttab_copy_to_ref(c->peer, ro, 0, buf, 4), GNTST_general_error);
    st_is(gnttab_map(c->peer, ro, va2, true, &h2), GNTST_okay);
    xtf_check_eq(*(volatile uint32_t *)va2, GNT_PATTERN_RO); /* the pinned frame, not page 5 */
    st_is(gnttab_unmap(h2, va2), GNTST_okay);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    /* Unpinned, the entry says what it says now. */
    st_is(gnttab_map(c->peer, ro, va, false, &h), GNTST_okay);
    xtf_check_eq(*(volatile uint32_t *)va, GNT_PATTERN(5));
    st_is(gnttab_unmap(h, va), GNTST_okay);
    /* Invalidating a pinned entry in place revokes nothing either (Xen's rule). */
    grant_ref_t ref = GNT_DATA_REF + 5;
    st_is(gnttab_map(c->peer, ref, va, true, &h), GNTST_okay);
    gnt_call(c, GNT_CMD_REWRITE, ref, 5, 0);
    st_is(gnttab_map(c->peer, ref, va2, true, &h2), GNTST_okay);
    st_is(gnttab_unmap(h2, va2), GNTST_okay);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), 0);
    st_is(gnttab_map(c->peer, ref, va, true, &h), GNTST_general_error);
    /* A writable pin alone keeps the entry's copy as well: a read-only pin after a rewrite gets
     * the pinned frame (page 6), not the one the entry names now (page 5). */
    ref = GNT_DATA_REF + 6;
    st_is(gnttab_map(c->peer, ref, va, false, &h), GNTST_okay);
    gnt_call(c, GNT_CMD_REWRITE, ref, 5, GTF_permit_access);
    st_is(gnttab_map(c->peer, ref, va2, true, &h2), GNTST_okay);
    xtf_check_eq(*(volatile uint32_t *)va2, GNT_PATTERN(6));
    st_is(gnttab_unmap(h2, va2), GNTST_okay);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_END, ref, 0, 0), 1);
    gnt_call(c, GNT_CMD_GRANT, ref, self(), 0);
    /* A pin is for the domain the entry named: the granter's own copy of a grant it made to us
     * is refused, before we pin it and while we hold it. */
    xtf_check_eq(gnt_call(c, GNT_CMD_COPY_OWN, ref, 0, 0), GNTST_general_error);
    st_is(gnttab_map(c->peer, ref, va, true, &h), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_COPY_OWN, ref, 0, 0), GNTST_general_error);
    st_is(gnttab_unmap(h, va), GNTST_okay);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, ref, 0, 0), GTF_permit_access);
    /* Put both back as gnt_peer made them. */
    xtf_check_eq(gnt_call(c, GNT_CMD_END, ro, 0, 0), 1);
    gnt_call(c, GNT_CMD_REWRITE, ro, c->nr_data, GTF_permit_access | GTF_readonly);
    gnt_call(c, GNT_CMD_GRANT, ref, self(), 0);
    gnttab_va_free(va);
    gnttab_va_free(va2);
    printf("item 21 done\n");
}

/*
 * Page tables of the grant window are made by successful maps only (and kept until we die): a
 * failed map into a 2 MiB region that has no leaf table yet makes none. Read in our own
 * metering (frames charged to us), which every domain may read of itself.
 */
static void window_tables(struct gnt_conn *c)
{
    struct moat_domain_stats st;
    uint64_t r1 = GUEST_GRANT_VA + (256ull << 20), r2 = r1 + (2ull << 20); /* far from gnt_va()'s pages */
    xtf_assert(domctl_getstats(DOMID_SELF, &st) == 0, "getstats of ourselves");
    uint32_t before = st.frames_charged;
    st_is(gnttab_map(c->peer, 0xffffffffu, r1, true, NULL), GNTST_bad_gntref);
    st_is(gnttab_map(c->peer, GNT_FOREIGN_REF(c->nr_data), r1, true, NULL), GNTST_general_error);
    st_is(gnttab_map(c->peer, GNT_RO_REF(c->nr_data), r1, false, NULL), GNTST_general_error);
    xtf_assert(domctl_getstats(DOMID_SELF, &st) == 0, "getstats of ourselves");
    xtf_check(st.frames_charged == before, "failed maps made %d frames", (int)(st.frames_charged - before));
    grant_handle_t h;
    st_is(gnttab_map(c->peer, GNT_DATA_REF, r2, true, &h), GNTST_okay);
    xtf_assert(domctl_getstats(DOMID_SELF, &st) == 0, "getstats of ourselves");
    xtf_check(st.frames_charged == before + 1, "a map into a fresh region made %d frames, not its leaf table",
              (int)(st.frames_charged - before));
    st_is(gnttab_unmap(h, r2), GNTST_okay);
    xtf_assert(domctl_getstats(DOMID_SELF, &st) == 0, "getstats of ourselves");
    xtf_check_eq(st.frames_charged, before + 1); /* the table stays */
    printf("window tables done\n");
}

void part_ops(struct gnt_conn *c)
{
    domid_t peer = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    before_setup();
    if (gnt_connect(c, peer) != 0)
        return;
    setup_and_query(c);
    copies(c);
    map_write_unmap(c);
    bad_arguments(c);
    handles(c);
    own_grant();
    readonly_pages();
    pfn_bounds();
    copy_bounds(c);
    host_addresses(c);
    pin_saturation(c);
    batches(c);
    end_while_mapped(c);
    rewrite_pinned(c);
    window_tables(c);
    xtf_check_eq(gnttab_unmap(c->ctl_handle, c->ctl_va), GNTST_okay);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
