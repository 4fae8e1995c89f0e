// SPDX-License-Identifier: MIT
// Relabel while another CPU binds and maps (tests/smp/test_smp_races.py). Two domains, each
// pinned to a CPU of its own, run without -icount:
//   role=manager peer=<domid> share=<ssidref> apart=<ssidref> rounds=N   (label system, CPU 0)
//       offers PORTS unbound ports and REFS grants to the worker, then in every round relabels
//       the worker to `apart` (a label that shares no STE type with it), lets it go on trying
//       for a while, and checks that nothing the new label forbids survived or came back: none
//       of its ports is connected to the worker, none of its grants is mapped (a stale decision
//       cache or a bind or map that slipped past the revocation would show here). Then it
//       relabels the worker back to `share` and offers its ports again.
//   role=worker peer=<domid>   (CPU 1) binds, maps, writes, unmaps and closes in a loop, and
//       counts what succeeded and what was revoked under it.
//   role=manager ... mode=policy   the same, but the worker keeps its label and the manager
//       loads a policy instead (revoke mode): mac-test-split.toml, where system no longer shares
//       type red with it, then mac-test.toml again (share= and apart= are not used).
// The test also compares the free frames at boot and at stop: no frame leaked.
#include "embedded_policies.h"

#include <public/event_channel.h>
#include <public/xsm/acm_ops.h>

#include <moat/acm.h>
#include <moat/evtchn.h>
#include <moat/gnttab.h>
#include <moat/test.h>

#define PORTS 4u
#define REFS 4u
#define FIRST_REF 8u

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t pages[REFS][GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static evtchn_port_t offered[PORTS];

static long relabel(domid_t d, uint32_t ssidref)
{
    struct acm_op op = { .cmd = ACMOP_relabeldoms, .interface_version = ACM_INTERFACE_VERSION };
    op.u.relabel.domid = d;
    op.u.relabel.ssidref = ssidref;
    return HYPERVISOR_xsm_op(&op);
}

/* Every offered port that a revocation left unbound to no one is closed and offered again. */
static void offer(domid_t peer)
{
    for (unsigned i = 0; i < PORTS; i++) {
        struct evtchn_status st;
        if (offered[i] && evtchn_status(DOMID_SELF, offered[i], &st) == 0) {
            if (st.status == EVTCHNSTAT_interdomain ||
                (st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == peer))
                continue;
            xtf_check(evtchn_close(offered[i]) == 0, "close revoked port %u", offered[i]);
        }
        long p = evtchn_alloc_unbound(peer);
        xtf_assert(p > 0, "alloc_unbound: %ld", p);
        offered[i] = (evtchn_port_t)p;
    }
}

static long load(const uint8_t *blob, uint32_t size)
{
    struct acm_setpolicy sp;
    return acm_setpolicy(blob, size, ACM_MODE_REVOKE, NULL, 0, &sp);
}

/* Takes the worker apart from the manager (true) or back together: a relabel, or a policy load. */
static long move(bool by_policy, domid_t peer, uint32_t ssidref, bool apart)
{
    if (!by_policy)
        return relabel(peer, ssidref);
    return apart ? load(blob_mac_test_split, (uint32_t)sizeof(blob_mac_test_split))
                 : load(blob_mac_test, (uint32_t)sizeof(blob_mac_test));
}

static void manager(domid_t peer)
{
    uint32_t share = (uint32_t)cmdline_ulong("share", 0), apart = (uint32_t)cmdline_ulong("apart", 0);
    uint32_t rounds = (uint32_t)cmdline_ulong("rounds", 100);
    bool by_policy = cmdline_has("mode=policy");
    xtf_assert(by_policy || (share && apart), "share=<ssidref> apart=<ssidref>, or mode=policy");
    xtf_assert(gnttab_setup(table, 1, 1) == GNTST_okay, "setup_table");
    for (unsigned i = 0; i < REFS; i++) {
        xtf_assert(gnttab_claim_ref(FIRST_REF + i), "ref");
        gnttab_grant_ref(FIRST_REF + i, peer, gnttab_pfn_of(pages[i]), false);
    }
    unsigned connected = 0, mapped = 0, bad = 0;
    for (uint32_t r = 0; r < rounds; r++) {
        offer(peer);
        sleep_ns(200 * NS_PER_US + (r % 7) * 37 * NS_PER_US); /* the worker binds and maps meanwhile */
        for (unsigned i = 0; i < PORTS; i++) {
            struct evtchn_status st;
            connected += evtchn_status(DOMID_SELF, offered[i], &st) == 0 && st.status == EVTCHNSTAT_interdomain;
        }
        for (unsigned i = 0; i < REFS; i++)
            mapped += (gnttab_flags(FIRST_REF + i) & (GTF_reading | GTF_writing)) != 0;
        xtf_assert(move(by_policy, peer, apart, true) == 0, "take the worker apart");
        sleep_ns(100 * NS_PER_US + (r % 5) * 23 * NS_PER_US); /* it goes on trying */
        for (unsigned i = 0; i < PORTS; i++) {
            struct evtchn_status st;
            long rc = evtchn_status(DOMID_SELF, offered[i], &st);
            if (rc == 0 && st.status == EVTCHNSTAT_interdomain && bad++ < 5)
                xtf_failure("Fail: round %u: port %u is still connected to the relabelled worker\n", r, offered[i]);
        }
        for (unsigned i = 0; i < REFS; i++)
            if ((gnttab_flags(FIRST_REF + i) & (GTF_reading | GTF_writing)) && bad++ < 5)
                xtf_failure("Fail: round %u: grant %u is still mapped by the relabelled worker\n", r, FIRST_REF + i);
        xtf_assert(move(by_policy, peer, share, false) == 0, "bring the worker back");
    }
    printf("%s race: %u rounds; before each move apart %u ports connected, %u grants mapped; %u survived it\n",
           by_policy ? "policy" : "relabel", rounds, connected, mapped, bad);
    xtf_assert(domctl_destroy(peer) == 0, "destroy the worker");
    while (gnttab_query_size(peer, NULL, NULL) != GNTST_bad_domain)
        sleep_ns(NS_PER_MS);
    for (unsigned i = 0; i < REFS; i++)
        xtf_check(gnttab_end_access_free(FIRST_REF + i), "ref %u still in use", FIRST_REF + i);
}

static void worker(domid_t peer)
{
    uint64_t va[REFS];
    for (unsigned i = 0; i < REFS; i++)
        va[i] = gnttab_va_alloc();
    unsigned long bound = 0, maps = 0, revoked = 0;
    for (uint32_t n = 0;; n++) {
        evtchn_port_t local[64];
        unsigned nr = 0;
        for (evtchn_port_t p = 1; p < 64; p++) { /* wherever the manager offers them */
            long l = evtchn_bind_interdomain(peer, p);
            if (l > 0)
                local[nr++] = (evtchn_port_t)l;

        }
        bound += nr;
        for (unsigned i = 0; i < REFS; i++) { /* the channels stay connected meanwhile */
            grant_handle_t h;
            if (gnttab_map(peer, FIRST_REF + i, va[i], false, &h) != GNTST_okay)
                continue;
            maps++;
            /* Not touched: the mapping may be revoked at any moment, and its page then faults
             * (tests/smp test_a_revoked_page_faults_for_a_mapper_on_another_cpu shows that). */
            int16_t st = gnttab_unmap(h, va[i]);
            revoked += st == GNTST_revoked;
            xtf_check(st == GNTST_okay || st == GNTST_revoked, "unmap: %s", gnttab_status_name(st));
        }
        for (unsigned i = 0; i < nr; i++)
            evtchn_close(local[i]); /* a revoked one is closed already: that error is expected */
        if (n % 64 == 0)
            printf("worker: %lu bound, %lu mapped, %lu revoked under it\n", bound, maps, revoked);
    }
}

void test_main(void)
{
    domid_t peer = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    if (cmdline_has("role=manager"))
        manager(peer);
    else if (cmdline_has("role=worker"))
        worker(peer);
    else
        xtf_error("Error: role=manager|worker\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
