// SPDX-License-Identifier: MIT
// part=bigram (no peer): a domain of 1 GiB, whose RAM runs past the first GiB of its address
// space (RAM starts at GUEST_RAM_VA). The hypervisor finds a PFN's page through a remembered page
// directory below 1 GiB and by a walk from 1 GiB on: copies into and out of its own pages, and
// read-only mappings of grants of them, on either side of that line and at the top of RAM, must
// each reach the page named, and the guard page below the stack (a hole) must be refused.
#include "client.h"

#define GIB (1ull << 30)

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t buf[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));

static uint32_t marker(unsigned i) { return 0xb16a0000u | i; }

static int16_t copy_pfn(uint64_t src, uint64_t dst)
{
    struct gnttab_copy op = { .source = { .u.gmfn = src, .domid = DOMID_SELF, .offset = 16 },
                              .dest = { .u.gmfn = dst, .domid = DOMID_SELF, .offset = 32 }, .len = 8 };
    return gnttab_copy_batch(&op, 1) == 0 ? op.status : (int16_t)-1000;
}

void part_bigram(void)
{
    uint64_t nr = start_info->nr_pages, line = (GIB - GUEST_RAM_VA) / GUEST_PAGE_SIZE;
    uint64_t guard = nr - GUEST_STACK_PAGES - 1;
    xtf_assert(guard > line + 1, "%lu pages do not reach past 1 GiB", (unsigned long)nr);
    xtf_assert(gnttab_setup(table, 1, 1) == GNTST_okay, "setup_table");
    domid_t self = start_info->domid;
    uint64_t pfns[] = { 0, line - 1, line, line + 1, guard - 1, guard + 1, nr - 1 };
    uint64_t va = gnttab_va_alloc();
    xtf_assert(va != 0, "no grant window page");
    for (unsigned i = 0; i < ARRAY_SIZE(pfns); i++) {
        volatile uint32_t *page = gnttab_va_of_pfn(pfns[i]);
        if (pfns[i] == 0) { /* our code: read it, never write it */
            memset(buf, 0, sizeof(buf));
            xtf_check(copy_pfn(0, gnttab_pfn_of(buf)) == GNTST_okay, "copy out of pfn 0");
            xtf_check(!memcmp(buf + 32, (const void *)(page + 4), 8), "pfn 0: another page copied");
            continue;
        }
        page[4] = marker(i);
        page[5] = ~marker(i);
        memset(buf, 0, sizeof(buf));
        int16_t st = copy_pfn(pfns[i], gnttab_pfn_of(buf));
        xtf_check(st == GNTST_okay, "copy out of pfn %#lx: %s", (unsigned long)pfns[i], gnttab_status_name(st));
        xtf_check(((uint32_t *)buf)[8] == marker(i) && ((uint32_t *)buf)[9] == ~marker(i),
                  "copy out of pfn %#lx: %#x, expected %#x", (unsigned long)pfns[i], ((uint32_t *)buf)[8], marker(i));
        ((uint32_t *)buf)[4] = ~marker(i);
        ((uint32_t *)buf)[5] = marker(i);
        st = copy_pfn(gnttab_pfn_of(buf), pfns[i]);
        xtf_check(st == GNTST_okay, "copy into pfn %#lx: %s", (unsigned long)pfns[i], gnttab_status_name(st));
        xtf_check(page[8] == ~marker(i) && page[9] == marker(i), "copy into pfn %#lx: %#x there",
                  (unsigned long)pfns[i], page[8]);
        grant_ref_t ref = gnttab_alloc_ref();
        xtf_assert(ref != GNTTAB_INVALID_REF, "no free ref");
        gnttab_grant_ref(ref, self, pfns[i], true);
        grant_handle_t h;
        st = gnttab_map(self, ref, va, true, &h);
        if (xtf_check(st == GNTST_okay, "map of pfn %#lx: %s", (unsigned long)pfns[i], gnttab_status_name(st))) {
            xtf_check(((volatile uint32_t *)va)[4] == marker(i), "mapping of pfn %#lx shows another page",
                      (unsigned long)pfns[i]);
            xtf_check(gnttab_unmap(h, va) == GNTST_okay, "unmap");
        }
        xtf_check(gnttab_end_access_free(ref), "end access");
    }
    /* The guard page lies past 1 GiB here: a hole found by the walk. */
    xtf_check(copy_pfn(guard, gnttab_pfn_of(buf)) == GNTST_bad_page, "copy out of the guard page");
    xtf_check(copy_pfn(nr, gnttab_pfn_of(buf)) == GNTST_bad_page, "copy out of pfn nr_pages");
    gnttab_va_free(va);
    printf("%lu pages, checked around pfn %#lx (1 GiB)\n", (unsigned long)nr, (unsigned long)line);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
