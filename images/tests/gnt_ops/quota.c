// SPDX-License-Identifier: MIT
// part=quota (no peer): a domain whose label's memory quota leaves it a few frames spends them on
// grant-window page tables (read-only maps of its own grant, each into a fresh 2 MiB region), so
// that a map finds no frame for its page table, and then asks its grant table to grow with no
// frame for the active page. Both must fail with no_space and give back what they took: the pin
// and frame reference of the map, the pages already allocated for the table. The boot test
// compares the free frames at boot and at stop.
#include <moat/hypercall.h>

#include "client.h"

#define REGION (2ull << 20)
#define MAX_MAPS 127 /* read-only pins of one ref stop there */

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));

static uint32_t frames_charged(void)
{
    struct moat_domain_stats st;
    xtf_assert(domctl_getstats(DOMID_SELF, &st) == 0, "getstats of ourselves");
    return st.frames_charged;
}

void part_quota(void)
{
    static grant_handle_t h[MAX_MAPS];
    domid_t self = start_info->domid;
    xtf_assert(gnttab_setup(table, 1, 2) == GNTST_okay, "setup_table of 1 frame");
    memset(page, 0x42, sizeof(page));
    grant_ref_t ref = gnttab_grant_access(self, page, false);
    xtf_assert(ref != GNTTAB_INVALID_REF, "no free ref");
    unsigned n = 0;
    int16_t st = GNTST_okay;
    while (n < MAX_MAPS && (st = gnttab_map(self, ref, GUEST_GRANT_VA + n * REGION, true, &h[n])) == GNTST_okay)
        n++;
    printf("quota: %u maps into fresh regions, then %s\n", n, gnttab_status_name(st));
    xtf_check(st == GNTST_no_space, "the map past the quota: %s", gnttab_status_name(st));
    uint32_t full = frames_charged();
    /* Our n mappings still pin the grant; the failed map's pin went (the last unmap clears the
     * flags below only if it did). */
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access | GTF_reading);
    st = gnttab_grow(2);
    xtf_check(st == GNTST_no_space, "growing the table past the quota: %s", gnttab_status_name(st));
    xtf_check_eq(frames_charged(), full);
    uint32_t nr = 0;
    xtf_check(gnttab_query_size(DOMID_SELF, &nr, NULL) == GNTST_okay && nr == 1, "table frames %u", nr);
    for (unsigned i = 0; i < n; i++)
        xtf_check(gnttab_unmap(h[i], GUEST_GRANT_VA + i * REGION) == GNTST_okay, "unmap %u", i);
    xtf_check_eq(gnttab_flags(ref), GTF_permit_access);
    xtf_check(gnttab_end_access_free(ref), "end access");
    printf("quota: every map unmapped, the grant ended\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
