// SPDX-License-Identifier: MIT
// Forced revocation cost per mapping at 1, 10 and 100 mappings.
//   role=granter  grants MAX_MAPS pages to peer=<domid> and waits for it to end
//   role=mapper   (label b_admin, privileged) maps N of them, then relabels itself to
//                 relabel_to=<ssidref> (c_admin: shares nothing with the granter), which revokes
//                 the N mappings; that relabel is timed. It relabels back, collects the
//                 GNTST_revoked unmaps and repeats.
//   role=revoker  (label a_admin, may relabel) grants like the granter, and times the revocation
//                 from the other side: each time the mapper (role=remote_mapper, pinned to
//                 another CPU) has mapped N, it relabels itself to relabel_to=<ssidref> and back.
//                 The mappings live in the mapper's page tables, loaded on the other CPU, so the
//                 revocation includes the TLB shootdown IPI and its answer (gnt_revoke_remote_N).
//   role=remote_mapper  maps N, then watches the revoker's label through query_size (refused
//                 while it shares nothing with it): away (its mappings are gone), then back;
//                 collects the GNTST_revoked unmaps and maps again.
// The relabel's cost includes its fixed part (policy sweep over all domains, cache purge, its
// console line) and one console line per revoked mapping (hv/xsm/acm.c).
#include <public/xsm/acm_ops.h>

#include <moat/bench.h>
#include <moat/gnttab.h>
#include <moat/test.h>

#define MAX_MAPS 100
#define FIRST_REF 8u
#define WARMUP 1u
#define SAMPLES 5u

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t pages[MAX_MAPS][GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static struct gnttab_map_grant_ref maps[MAX_MAPS];
static struct gnttab_unmap_grant_ref unmaps[MAX_MAPS];

static long relabel(uint32_t ssidref, uint32_t *revoked)
{
    struct acm_op op = { .cmd = ACMOP_relabeldoms, .interface_version = ACM_INTERFACE_VERSION };
    op.u.relabel.domid = start_info->domid;
    op.u.relabel.ssidref = ssidref;
    long rc = HYPERVISOR_xsm_op(&op);
    *revoked = op.u.relabel.revoked_grants;
    return rc;
}

static const unsigned counts[] = { 1, 10, 100 };

static void grant_all(domid_t peer)
{
    xtf_assert(gnttab_setup(table, 1, 1) == GNTST_okay, "setup_table");
    for (unsigned i = 0; i < MAX_MAPS; i++) {
        xtf_assert(gnttab_claim_ref(FIRST_REF + i), "ref");
        gnttab_grant_ref(FIRST_REF + i, peer, gnttab_pfn_of(pages[i]), false);
    }
}

static void wait_peer_gone(domid_t peer)
{
    while (gnttab_query_size(peer, NULL, NULL) != GNTST_bad_domain)
        sleep_ns(NS_PER_MS);
    for (unsigned i = 0; i < MAX_MAPS; i++)
        xtf_check(gnttab_end_access_free(FIRST_REF + i), "ref %u still in use", FIRST_REF + i);
}

static void granter(domid_t peer)
{
    grant_all(peer);
    wait_peer_gone(peer);
}

static bool all_mapped(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!(gnttab_flags(FIRST_REF + i) & GTF_writing))
            return false;
    return true;
}

static void revoker(domid_t peer)
{
    uint32_t home = start_info->ssidref, away = (uint32_t)cmdline_ulong("relabel_to", 0);
    xtf_assert(away != 0, "relabel_to=<ssidref>");
    grant_all(peer);
    static const char *const figures[] = { "gnt_revoke_remote_1", "gnt_revoke_remote_10",
                                           "gnt_revoke_remote_100" };
    for (unsigned c = 0; c < ARRAY_SIZE(counts); c++) {
        unsigned n = counts[c];
        uint64_t samples[SAMPLES];
        for (unsigned s = 0; s < WARMUP + SAMPLES; s++) {
            while (!all_mapped(n))
                sleep_ns(50 * NS_PER_US);
            uint32_t revoked = 0;
            uint64_t t0 = bench_tsc();
            long rc = relabel(away, &revoked);
            uint64_t d = bench_net(bench_tsc() - t0);
            xtf_assert(rc == 0 && revoked == n, "relabel: %ld, %u revoked", rc, revoked);
            /* Long enough for the mapper to see this label: its 50 us sleeps end at its CPU's
             * next tick, so it looks once a tick (1 ms), and a look may wait for the lock. */
            sleep_ns(3 * NS_PER_MS);
            xtf_assert(relabel(home, &revoked) == 0, "relabel back");
            if (s >= WARMUP)
                samples[s - WARMUP] = d / n;
        }
        bench_report(figures[c], samples, SAMPLES, "instructions");
    }
    wait_peer_gone(peer);
}

static void remote_mapper(domid_t peer)
{
    for (unsigned i = 0; i < MAX_MAPS; i++)
        maps[i] = (struct gnttab_map_grant_ref){ .host_addr = gnttab_va_alloc(), .flags = GNTMAP_host_map,
                                                 .ref = FIRST_REF + i, .dom = peer };
    grant_handle_t h;
    while (gnttab_map(peer, FIRST_REF + MAX_MAPS - 1, maps[0].host_addr, true, &h) != GNTST_okay)
        sleep_ns(NS_PER_MS);
    xtf_assert(gnttab_unmap(h, maps[0].host_addr) == GNTST_okay, "unmap");
    for (unsigned c = 0; c < ARRAY_SIZE(counts); c++) {
        unsigned n = counts[c];
        for (unsigned s = 0; s < WARMUP + SAMPLES; s++) {
            xtf_assert(gnttab_map_batch(maps, n) == 0, "map batch");
            for (unsigned i = 0; i < n; i++) {
                xtf_assert(maps[i].status == GNTST_okay, "map %u: %s", i, gnttab_status_name(maps[i].status));
                *(volatile uint32_t *)maps[i].host_addr = s; /* in use: in this CPU's TLB */
            }
            while (gnttab_query_size(peer, NULL, NULL) == GNTST_okay) /* until it relabels away */
                sleep_ns(50 * NS_PER_US);
            while (gnttab_query_size(peer, NULL, NULL) != GNTST_okay) /* and back */
                sleep_ns(50 * NS_PER_US);
            for (unsigned i = 0; i < n; i++)
                unmaps[i] = (struct gnttab_unmap_grant_ref){ .host_addr = maps[i].host_addr,
                                                             .handle = maps[i].handle };
            xtf_assert(gnttab_unmap_batch(unmaps, n) == 0, "unmap batch");
            for (unsigned i = 0; i < n; i++)
                xtf_assert(unmaps[i].status == GNTST_revoked, "unmap %u: %s", i, gnttab_status_name(unmaps[i].status));
        }
    }
}

static void mapper(domid_t peer)
{
    uint32_t home = start_info->ssidref, away = (uint32_t)cmdline_ulong("relabel_to", 0);
    xtf_assert(away != 0, "relabel_to=<ssidref>");
    for (unsigned i = 0; i < MAX_MAPS; i++)
        maps[i] = (struct gnttab_map_grant_ref){ .host_addr = gnttab_va_alloc(), .flags = GNTMAP_host_map,
                                                 .ref = FIRST_REF + i, .dom = peer };
    /* Wait for the granter's last grant. */
    grant_handle_t h;
    while (gnttab_map(peer, FIRST_REF + MAX_MAPS - 1, maps[0].host_addr, true, &h) != GNTST_okay)
        sleep_ns(NS_PER_MS);
    xtf_assert(gnttab_unmap(h, maps[0].host_addr) == GNTST_okay, "unmap");
    static const char *const figures[] = { "gnt_revoke_1", "gnt_revoke_10", "gnt_revoke_100" };
    for (unsigned c = 0; c < ARRAY_SIZE(counts); c++) {
        unsigned n = counts[c];
        uint64_t samples[SAMPLES];
        for (unsigned s = 0; s < WARMUP + SAMPLES; s++) {
            xtf_assert(gnttab_map_batch(maps, n) == 0, "map batch");
            for (unsigned i = 0; i < n; i++) {
                xtf_assert(maps[i].status == GNTST_okay, "map %u: %s", i, gnttab_status_name(maps[i].status));
                *(volatile uint32_t *)maps[i].host_addr = s; /* in use */
            }
            uint32_t revoked = 0;
            uint64_t t0 = bench_tsc();
            long rc = relabel(away, &revoked);
            uint64_t d = bench_net(bench_tsc() - t0);
            xtf_assert(rc == 0 && revoked == n, "relabel: %ld, %u revoked", rc, revoked);
            xtf_assert(relabel(home, &revoked) == 0, "relabel back");
            for (unsigned i = 0; i < n; i++)
                unmaps[i] = (struct gnttab_unmap_grant_ref){ .host_addr = maps[i].host_addr,
                                                             .handle = maps[i].handle };
            xtf_assert(gnttab_unmap_batch(unmaps, n) == 0, "unmap batch");
            for (unsigned i = 0; i < n; i++)
                xtf_assert(unmaps[i].status == GNTST_revoked, "unmap %u: %s", i, gnttab_status_name(unmaps[i].status));
            if (s >= WARMUP)
                samples[s - WARMUP] = d / n;
        }
        bench_report(figures[c], samples, SAMPLES, "instructions");
    }
}

void test_main(void)
{
    domid_t peer = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    if (cmdline_has("role=granter"))
        granter(peer);
    else if (cmdline_has("role=mapper"))
        mapper(peer);
    else if (cmdline_has("role=revoker"))
        revoker(peer);
    else if (cmdline_has("role=remote_mapper"))
        remote_mapper(peer);
    else
        xtf_error("Error: role=granter|mapper|revoker|remote_mapper\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
