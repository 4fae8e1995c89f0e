// SPDX-License-Identifier: MIT
// Grant-table costs in one domain (it grants a page to itself: the same hypervisor path as a
// foreign granter but for the domain lookup): a map+unmap pair, each half, and a 4 KiB copy
// from a grant ref into our own page.
//   suffix=<s>  names the figures <figure>_<s> (gnt_map_quota.toml: the same under quotas).
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
    // suffix=<s>: the same figures named <figure>_<s> (another scenario's set-up, compared with these).
    char suffix[24] = "";
    cmdline_get("suffix", suffix, sizeof(suffix));
    static const char *const names[] = {"gnt_map_unmap", "gnt_map", "gnt_unmap", "gnt_copy_4k"};
    uint64_t *const sets[] = {pair, map, unmap, copy};
    for (unsigned i = 0; i < 4; i++) {
        char name[48];
        snprintf(name, sizeof(name), suffix[0] ? "%s_%s" : "%s", names[i], suffix);
        bench_report(name, sets[i], SAMPLES, "instructions");
    }
    xtf_success(NULL);
}
