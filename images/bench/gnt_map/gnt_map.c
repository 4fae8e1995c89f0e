// SPDX-License-Identifier: MIT
// Grant-table costs in one domain (it grants a page to itself: the same hypervisor path as a
// foreign granter but for the domain lookup): a map+unmap pair, each half, and a 4 KiB copy
// from a grant ref into our own page.
#include <moat/bench.h>
#include <moat/gnttab.h>
#include <moat/test.h>

#define WARMUP 100u
#define SAMPLES 1000u

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t dst[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint64_t pair[SAMPLES], map[SAMPLES], unmap[SAMPLES], copy[SAMPLES];

void test_main(void)
{
    xtf_assert(gnttab_setup(table, 1, 1) == GNTST_okay, "setup_table");
    domid_t self = start_info->domid;
    grant_ref_t ref = gnttab_grant_access(self, page, false);
    uint64_t va = gnttab_va_alloc();
    grant_handle_t h = 0;
    int16_t bad = 0;
    BENCH_SAMPLES(pair, SAMPLES, WARMUP, {
        bad |= gnttab_map(self, ref, va, false, &h);
        bad |= gnttab_unmap(h, va);
    });
    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        uint64_t t0 = bench_tsc();
        bad |= gnttab_map(self, ref, va, false, &h);
        uint64_t t1 = bench_tsc();
        bad |= gnttab_unmap(h, va);
        uint64_t t2 = bench_tsc();
        if (i >= WARMUP) {
            map[i - WARMUP] = bench_net(t1 - t0);
            unmap[i - WARMUP] = bench_net(t2 - t1);
        }
    }
    BENCH_SAMPLES(copy, SAMPLES, WARMUP, bad |= gnttab_copy_from_ref(self, ref, 0, dst, GUEST_PAGE_SIZE));
    xtf_assert(bad == 0, "a grant op failed during the runs");
    xtf_assert(gnttab_end_access_free(ref), "end access");
    bench_report("gnt_map_unmap", pair, SAMPLES, "instructions");
    bench_report("gnt_map", map, SAMPLES, "instructions");
    bench_report("gnt_unmap", unmap, SAMPLES, "instructions");
    bench_report("gnt_copy_4k", copy, SAMPLES, "instructions");
    xtf_success(NULL);
}
