// SPDX-License-Identifier: MIT
// Simple Type Enforcement at bind time and the decision cache (acceptance items 1-10 of
// shared/reference/shype-acm.md; tests/mac/test_ste.py). The controller (system: STE types sys,
// red) is the subject of every bind and map; red children share `red` with it, blue ones nothing,
// green ones share red with it and blue with blue children.
#include "common.h"

#include <public/event_channel.h>

#define HOOK(s, h) ((s).hook[ACM_HOOK_##h])

static void close_interdomain(void)
{
    struct evtchn_status st;
    for (evtchn_port_t p = 1; p < 64; p++)
        if (ev_status(SELF, p, &st) == 0 && st.status == EVTCHNSTAT_interdomain)
            xtf_check_eq(ev_close(p), 0);
}

static void owner_decides(domid_t red, domid_t blue, domid_t green)
{
    evtchn_port_t p;
    struct evtchn_status st;
    struct acm_stats s0 = mac_stats();
    unsigned used = ev_used(blue);
    /* Owner blue, remote red: disjoint, although the caller (system) shares red with the remote. */
    xtf_check_eq(ev_alloc(blue, red, &p), -XEN_EACCES);
    xtf_check_eq(ev_used(blue), used);
    /* Owner green, remote blue: they share blue, although the caller shares nothing with blue. */
    xtf_check_eq(ev_alloc(green, blue, &p), 0);
    xtf_check_eq(ev_status(green, p, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == blue, "green's port %u: status %u dom %u", p,
              st.status, st.u.unbound.dom);
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(HOOK(s1, EVTCHN_UNBOUND).denials - HOOK(s0, EVTCHN_UNBOUND).denials, 1);
    printf("ste: alloc_unbound decides on the port owner\n");
}

/* Item 1: a port allocated while the labels shared a type, bound after they no longer do. */
static evtchn_port_t bind_denied(domid_t blue)
{
    evtchn_port_t p, l;
    struct evtchn_status st;
    xtf_check_eq(acm_relabel(blue, BLOB_MAC_TEST_SSID_GREEN, NULL), 0);
    xtf_check_eq(ev_alloc(blue, SELF, &p), 0);
    xtf_check_eq(acm_relabel(blue, BLOB_MAC_TEST_SSID_BLUE, NULL), 0);
    unsigned mine = ev_used(SELF);
    xtf_check_eq(ev_bind(blue, p, &l), -XEN_EACCES);
    xtf_check_eq(ev_used(SELF), mine);
    xtf_check_eq(ev_status(blue, p, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == SELF, "blue's port after the denial: %u/%u",
              st.status, st.u.unbound.dom);
    printf("ste: bind_interdomain denied, nothing bound\n");
    return p;
}

static void shared_type(domid_t red)
{
    evtchn_port_t rp, lp = channel(red, &rp);
    struct evtchn_status st;
    xtf_check_eq(ev_status(SELF, lp, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == red && st.u.interdomain.port == rp,
              "our end %u: %u", lp, st.status);
    xtf_check_eq(ev_status(red, rp, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == SELF && st.u.interdomain.port == lp,
              "red's end %u: %u", rp, st.status);
    printf("ste: shared type: alloc_unbound and bind_interdomain allowed\n");
}

static void cache_hit(domid_t red)
{
    struct acm_stats s0 = mac_stats();
    channel(red, NULL);
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(HOOK(s1, EVTCHN_BIND).evaluations - HOOK(s0, EVTCHN_BIND).evaluations, 1);
    xtf_check_eq(HOOK(s1, EVTCHN_BIND).cache_hits - HOOK(s0, EVTCHN_BIND).cache_hits, 1);
    xtf_check_eq(HOOK(s1, EVTCHN_UNBOUND).cache_hits - HOOK(s0, EVTCHN_UNBOUND).cache_hits, 1);
    printf("ste: second bind of a permitted pair is a cache hit\n");
}

static void denial_not_cached(domid_t blue, evtchn_port_t stale)
{
    struct acm_stats s0 = mac_stats();
    for (int i = 0; i < 2; i++) {
        xtf_check_eq(ev_alloc(blue, SELF, NULL), -XEN_EACCES);
        xtf_check_eq(ev_bind(blue, stale, NULL), -XEN_EACCES);
    }
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(HOOK(s1, EVTCHN_UNBOUND).denials - HOOK(s0, EVTCHN_UNBOUND).denials, 2);
    xtf_check_eq(HOOK(s1, EVTCHN_BIND).denials - HOOK(s0, EVTCHN_BIND).denials, 2);
    xtf_check_eq(HOOK(s1, EVTCHN_UNBOUND).cache_hits - HOOK(s0, EVTCHN_UNBOUND).cache_hits, 0);
    xtf_check_eq(HOOK(s1, EVTCHN_BIND).cache_hits - HOOK(s0, EVTCHN_BIND).cache_hits, 0);
    printf("ste: denials are not cached\n");
}

/* Item 7: eight peers fill our cache; a ninth is decided right, allowed or denied. */
static void cache_full(domid_t red, domid_t blue, domid_t green, evtchn_port_t stale, domid_t *peers)
{
    char name[16];
    for (int i = 0; i < XSM_CACHE_SIZE_GUEST; i++) {
        snprintf(name, sizeof(name), "peer-%d", i);
        peers[i] = child(BLOB_MAC_TEST_SSID_RED, name, "mode=sleep");
        channel(peers[i], NULL);
    }
    struct acm_stats s0 = mac_stats();
    xtf_check_eq(ev_bind(blue, stale, NULL), -XEN_EACCES); /* ninth, disjoint */
    channel(green, NULL);                                  /* ninth, allowed: a miss */
    channel(red, NULL);                                    /* evicted by now: a miss */
    channel(peers[XSM_CACHE_SIZE_GUEST - 1], NULL);        /* still cached: a hit */
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(HOOK(s1, EVTCHN_BIND).evaluations - HOOK(s0, EVTCHN_BIND).evaluations, 4);
    xtf_check_eq(HOOK(s1, EVTCHN_BIND).denials - HOOK(s0, EVTCHN_BIND).denials, 1);
    xtf_check_eq(HOOK(s1, EVTCHN_BIND).cache_hits - HOOK(s0, EVTCHN_BIND).cache_hits, 1);
    printf("ste: a full cache still decides a ninth peer correctly\n");
}

/* Item 8: another domain with the old one's id but a disjoint label inherits no decision. */
static void domid_reuse(domid_t red, domid_t old)
{
    xtf_check_eq(ev_alloc(red, old, NULL), 0); /* red now caches a positive decision about `old` */
    kill(old);
    domid_t y = child(BLOB_MAC_TEST_SSID_BLUE, "reuse-blue", "mode=sleep");
    xtf_check_eq(y, old);
    xtf_check_eq(ev_alloc(red, y, NULL), -XEN_EACCES);
    xtf_check_eq(ev_alloc(y, SELF, NULL), -XEN_EACCES);
    printf("ste: a reused domid inherits no cached decision\n");
}

/* Item 10: relabelling purges the caches (Xen's ACM did not) and revokes the channels. */
static void relabel_purges(domid_t red)
{
    evtchn_port_t q;
    xtf_check_eq(ev_alloc(red, SELF, &q), 0);
    struct acm_relabel rl;
    xtf_check_eq(acm_relabel(red, BLOB_MAC_TEST_SSID_BLUE, &rl), 0);
    xtf_check_eq(rl.revoked_evtchn, 3); /* shared_type, cache_hit, cache_full */
    xtf_check_eq(ev_bind(red, q, NULL), -XEN_EACCES);
    xtf_check_eq(ev_alloc(red, SELF, NULL), -XEN_EACCES);
    printf("ste: relabel purged the caches and revoked %u channels\n", rl.revoked_evtchn);
}

/* Item 9: loading a policy purges the caches. */
static void policy_purges(domid_t green)
{
    evtchn_port_t q;
    xtf_check_eq(ev_alloc(green, SELF, &q), 0); /* green and we are cached both ways by now */
    close_interdomain();                         /* so that refuse mode has nothing to refuse */
    struct acm_setpolicy sp;
    xtf_check_eq(acm_setpolicy(blob_mac_test_split, sizeof(blob_mac_test_split), ACM_MODE_REFUSE, NULL, 0, &sp), 0);
    xtf_check_eq(sp.nr_errors, 0);
    xtf_check_eq(ev_bind(green, q, NULL), -XEN_EACCES); /* system no longer has red */
    /* Green's decision about us went too (we are the first domain: incarnation 1, which a purge
     * that marked slots with anything but 0, "empty", would leave matching us). */
    xtf_check_eq(ev_alloc(green, SELF, NULL), -XEN_EACCES);
    xtf_check_eq(acm_setpolicy(blob_mac_test, sizeof(blob_mac_test), ACM_MODE_REFUSE, NULL, 0, &sp), 0);
    xtf_check_eq(ev_bind(green, q, NULL), 0);
    printf("ste: a policy load purged the caches\n");
}

/*
 * Every one of the eight cache slots holds a decision, the first as well as the others: a fresh
 * subject's eight peers are all hits the second time, and a relabel of the peer whose decision
 * sits in the subject's first slot purges that one too. The peers of cache_full make room first.
 */
static void cache_slots(domid_t *old_peers)
{
    for (int i = 0; i < XSM_CACHE_SIZE_GUEST - 1; i++) /* the last one went in domid_reuse */
        kill(old_peers[i]);
    domid_t x = child(BLOB_MAC_TEST_SSID_RED, "slots", "mode=sleep"), peers[XSM_CACHE_SIZE_GUEST];
    char name[16];
    for (int i = 0; i < XSM_CACHE_SIZE_GUEST; i++) {
        snprintf(name, sizeof(name), "slot-%d", i);
        peers[i] = child(BLOB_MAC_TEST_SSID_RED, name, "mode=sleep");
    }
    struct acm_stats s0 = mac_stats();
    for (int round = 0; round < 2; round++) /* x is the subject: misses into slots 0-7, then hits */
        for (int i = 0; i < XSM_CACHE_SIZE_GUEST; i++)
            xtf_check_eq(ev_alloc(x, peers[i], NULL), 0);
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(HOOK(s1, EVTCHN_UNBOUND).evaluations - HOOK(s0, EVTCHN_UNBOUND).evaluations,
                 2 * XSM_CACHE_SIZE_GUEST);
    xtf_check_eq(HOOK(s1, EVTCHN_UNBOUND).cache_hits - HOOK(s0, EVTCHN_UNBOUND).cache_hits, XSM_CACHE_SIZE_GUEST);
    xtf_check_eq(acm_relabel(peers[0], BLOB_MAC_TEST_SSID_BLUE, NULL), 0);
    xtf_check_eq(ev_alloc(x, peers[0], NULL), -XEN_EACCES);
    xtf_check_eq(ev_alloc(x, peers[1], NULL), 0); /* the other slots still hold theirs */
    struct acm_stats s2 = mac_stats();
    xtf_check_eq(HOOK(s2, EVTCHN_UNBOUND).cache_hits - HOOK(s1, EVTCHN_UNBOUND).cache_hits, 1);
    printf("ste: all eight cache slots hold a decision, and a relabel purges the first slot too\n");
    for (int i = 0; i < XSM_CACHE_SIZE_GUEST; i++)
        kill(peers[i]);
    kill(x);
}

static void grants(void)
{
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "mode=grant to=%u refs=1", SELF);
    domid_t gb = child(BLOB_MAC_TEST_SSID_BLUE, "grant-blue", cmd);
    domid_t gr = child(BLOB_MAC_TEST_SSID_RED, "grant-red", cmd);
    if (!gnt_wait_table(gr, 1)) {
        xtf_error("Error: grant-red never set up its table\n");
        return;
    }
    sleep_ns(20 * NS_PER_MS); /* grant-blue too (its table cannot be queried: that is denied) */
    struct gnttab_query_size q = { .dom = gb };
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_query_size, &q, 1), 0);
    xtf_check_eq(q.status, GNTST_permission_denied);
    uint64_t pfn = 0;
    struct gnttab_setup_table s = { .dom = gb, .nr_frames = 1, .frame_list = (uint64_t)(uintptr_t)&pfn };
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1), 0);
    xtf_check_eq(s.status, GNTST_permission_denied);
    /* foreign_gnttab is ours, not grant-red's: with a shared type we get past the MAC checks
     * to the table's own (0 frames: general_error), never permission_denied. */
    s = (struct gnttab_setup_table){ .dom = gr, .nr_frames = 0, .frame_list = (uint64_t)(uintptr_t)&pfn };
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1), 0);
    xtf_check_eq(s.status, GNTST_general_error);

    struct acm_stats s0 = mac_stats();
    grant_handle_t h = 0;
    xtf_check_eq(gnt_map(gb, GNTTAB_NR_RESERVED_ENTRIES, GRANT_VA(0), &h), GNTST_permission_denied);
    xtf_check_eq(gnt_unmap(0), GNTST_bad_handle); /* no maptrack entry was taken */
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(HOOK(s1, GRANT_MAP).denials - HOOK(s0, GRANT_MAP).denials, 1);
    /* The address is still free: the denied map installed nothing there. */
    xtf_check_eq(gnt_map(gr, GNTTAB_NR_RESERVED_ENTRIES, GRANT_VA(0), &h), GNTST_okay);
    xtf_check_eq(*(volatile uint64_t *)GRANT_VA(0), 0x6772616e746564ULL);
    xtf_check_eq(gnt_unmap(h), GNTST_okay);

    static uint64_t page[GUEST_PAGE_SIZE / 8] __attribute__((aligned(4096)));
    struct gnttab_copy c = { .len = 8, .flags = GNTCOPY_source_gref };
    c.source.u.ref = GNTTAB_NR_RESERVED_ENTRIES;
    c.source.domid = gb;
    c.dest.u.gmfn = pfn_of(page);
    c.dest.domid = DOMID_SELF;
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_copy, &c, 1), 0);
    xtf_check_eq(c.status, GNTST_permission_denied);
    xtf_check_eq(page[0], 0);
    c.source.domid = gr;
    xtf_check_eq(HYPERVISOR_grant_table_op(GNTTABOP_copy, &c, 1), 0);
    xtf_check_eq(c.status, GNTST_okay);
    xtf_check_eq(page[0], 0x6772616e746564ULL);
    printf("ste: grant map, copy and foreign setup/query denied between disjoint labels\n");
    kill(gb);
    kill(gr);
}

void suite_ste(void)
{
    domid_t red = child(BLOB_MAC_TEST_SSID_RED, "red-1", "mode=sleep");
    domid_t blue = child(BLOB_MAC_TEST_SSID_BLUE, "blue-1", "mode=sleep");
    domid_t green = child(BLOB_MAC_TEST_SSID_GREEN, "green-1", "mode=sleep");
    domid_t peers[XSM_CACHE_SIZE_GUEST];

    owner_decides(red, blue, green);
    evtchn_port_t stale = bind_denied(blue);
    shared_type(red);
    cache_hit(red);
    denial_not_cached(blue, stale);
    cache_full(red, blue, green, stale, peers);
    domid_reuse(red, peers[XSM_CACHE_SIZE_GUEST - 1]);
    relabel_purges(red);
    policy_purges(green);
    cache_slots(peers);
    grants();
}
