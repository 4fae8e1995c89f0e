// SPDX-License-Identifier: MIT
// The sweep of a policy change (tests/mac/test_sweep.py): what a load finds among live domains,
// in refuse and in revoke mode, where the policy test (policy.c) has only violations of one kind.
// The live sharing here mixes allowed and forbidden items in the order the sweep meets them, so
// that a decision remembered for the wrong pair of labels shows; channels between two children
// and a child's loopback channel, so that the violation tuples' domain ids and the "lower end
// reports" rule show; VIRQ_DOM_EXC bindings kept and lost; a Chinese Wall conflict at type 0 that
// comes with sharing violations; more than the eight revocations a load audits line by line;
// a blob that parses but is not loadable (no bootstrap row); and a first pair (0, 0), of a domain
// labelled __UNLABELED__.
#include "common.h"

#include <public/event_channel.h>

#define GREEN_CHANNELS 10u /* our channels to `green`: with the others, 12 revocations, past 8 lines */
#define NV 32u

static struct acm_violation v[NV];

static void put_be32(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)(x >> 24), p[1] = (uint8_t)(x >> 16), p[2] = (uint8_t)(x >> 8), p[3] = (uint8_t)x;
}

/*
 * A blob that acm_policy_parse() accepts, with the running policy's codes (Chinese Wall primary,
 * STE secondary), one type in each section and a single row in each matrix: the unlabeled row
 * only, no bootstrap label. The compiler cannot write it (it always writes the bootstrap row), and
 * setpolicy must refuse it as not loadable (-EINVAL, before any domain is looked at); were it
 * taken as a candidate, every running domain's ssidref would be missing from it (-EBUSY).
 */
static uint32_t build_rowless(uint8_t *b)
{
    static const char name[] = "rowless";
    const uint32_t pr = (4u + (uint32_t)sizeof(name) + 7u) & ~7u;
    const uint32_t c = ACM_HEADER_SIZE + pr, c_size = (ACM_CHWALL_HEADER_SIZE + 2u + 7u) & ~7u;
    const uint32_t s = c + c_size, s_size = (ACM_STE_HEADER_SIZE + 2u + 7u) & ~7u;
    const uint32_t size = s + s_size;
    memset(b, 0, size);
    put_be32(b + 0, ACM_MAGIC);
    put_be32(b + 4, ACM_POLICY_VERSION);
    put_be32(b + 8, size);
    put_be32(b + 12, ACM_HEADER_SIZE);
    put_be32(b + 16, ACM_CHINESE_WALL_POLICY);
    put_be32(b + 20, c);
    put_be32(b + 24, ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY);
    put_be32(b + 28, s);
    put_be32(b + 32, 1); /* version 1.0 */
    put_be32(b + 60, (uint32_t)sizeof(name));
    memcpy(b + 64, name, sizeof(name));
    const uint32_t chwall[9] = {ACM_CHWALL_VERSION, ACM_CHINESE_WALL_POLICY, 1, 1, 0, ACM_CHWALL_HEADER_SIZE,
                                ACM_CHWALL_HEADER_SIZE + 2u, 0, 0};
    for (unsigned i = 0; i < 9; i++)
        put_be32(b + c + 4 * i, chwall[i]);
    const uint32_t ste[5] = {ACM_STE_VERSION, ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY, 1, 1, ACM_STE_HEADER_SIZE};
    for (unsigned i = 0; i < 5; i++)
        put_be32(b + s + 4 * i, ste[i]);
    return size;
}

static void rowless(void)
{
    static uint8_t blob[256] __attribute__((aligned(8)));
    struct acm_setpolicy sp;
    uint32_t size = build_rowless(blob);
    for (uint32_t mode = ACM_MODE_REFUSE; mode <= ACM_MODE_REVOKE; mode++) {
        memset(&sp, 0x55, sizeof(sp));
        xtf_check_eq(acm_setpolicy(blob, size, mode, v, NV, &sp), -XEN_EINVAL);
        xtf_check_eq(sp.nr_errors, 0);
    }
    printf("sweep: a policy without a bootstrap row refused as not loadable\n");
}

/* The port's status now: a load revokes before it returns, so what it did is there at once. */
static bool status_is(domid_t dom, evtchn_port_t port, uint32_t status)
{
    struct evtchn_status st;
    return ev_status(dom, port, &st) == 0 && st.status == status;
}

static bool wait_status(domid_t dom, evtchn_port_t port, uint32_t status)
{
    struct evtchn_status st;
    uint64_t give_up = now_ns() + 30 * NS_PER_SEC; /* children boot slowly on a loaded host */
    while (ev_status(dom, port, &st) != 0 || st.status != status)
        if (now_ns() > give_up)
            return false;
        else
            sleep_ns(NS_PER_MS);
    return true;
}

/* The port of dom's VIRQ_DOM_EXC binding, or 0. */
static evtchn_port_t virq_port(domid_t dom)
{
    struct evtchn_status st;
    for (evtchn_port_t p = 1; p < 64; p++)
        if (ev_status(dom, p, &st) == 0 && st.status == EVTCHNSTAT_virq && st.u.virq == VIRQ_DOM_EXC)
            return p;
    return 0;
}

/* The ports of dom's channels to itself (both ends), counted. */
static unsigned loop_ports(domid_t dom)
{
    struct evtchn_status st;
    unsigned n = 0;
    for (evtchn_port_t p = 1; p < 64; p++)
        if (ev_status(dom, p, &st) == 0 && st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == dom)
            n++;
    return n;
}

static bool wait_for(domid_t dom, bool (*ready)(domid_t))
{
    uint64_t give_up = now_ns() + 30 * NS_PER_SEC; /* children boot slowly on a loaded host */
    while (!ready(dom))
        if (now_ns() > give_up)
            return false;
        else
            sleep_ns(NS_PER_MS);
    return true;
}

static bool has_virq(domid_t dom) { return virq_port(dom) != 0; }
static bool has_loop(domid_t dom) { return loop_ports(dom) == 2; }

static unsigned count(uint32_t n, uint32_t code, uint32_t param)
{
    unsigned k = 0;
    for (uint32_t i = 0; i < n && i < NV; i++)
        k += v[i].code == code && v[i].param == param;
    return k;
}

static uint32_t pair(domid_t a, domid_t b) { return (uint32_t)a << 16 | b; }

/*
 * The first pair a sweep meets may be (0, 0): a domain labelled __UNLABELED__ (ssidref 0), which a
 * policy may make a real label with STE types, walked first with a loopback channel. The sweep
 * must decide that pair, not answer from its memo before the memo holds any decision (the memo
 * starts as the pair (0, 0), not shared).
 */
static void unlabeled(void)
{
    struct acm_setpolicy sp;
    xtf_check_eq(acm_setpolicy(blob_mac_test_unlabeled, sizeof(blob_mac_test_unlabeled), ACM_MODE_REFUSE, NULL, 0, &sp),
                 0);
    domid_t unl = child(0, "apart-unlabeled", "mode=loop");
    xtf_assert(wait_for(unl, has_loop), "the unlabeled domain never bound its loopback channel");
    struct acm_getssid g;
    xtf_check_eq(acm_getssid_domain(unl, &g), 0);
    xtf_check_eq(g.ssidref, 0);
    /* Nothing else shares anything: ours were all closed or revoked, the other children are gone. */
    memset(v, 0, sizeof(v));
    xtf_check_eq(acm_setpolicy(blob_mac_test_unlabeled, sizeof(blob_mac_test_unlabeled), ACM_MODE_REFUSE, v, NV, &sp),
                 0);
    xtf_check(sp.nr_errors == 0 && v[0].code == 0, "%u violations, the first (%#x, %#x)", sp.nr_errors, v[0].code,
              v[0].param);
    xtf_check_eq(loop_ports(unl), 2);
    kill(unl);
    xtf_check(wait_gone(unl), "the unlabeled domain did not go");
    xtf_check_eq(acm_setpolicy(blob_mac_test, sizeof(blob_mac_test), ACM_MODE_REFUSE, NULL, 0, &sp), 0);
    printf("sweep: a loopback channel of an unlabeled domain kept\n");
}

void suite_sweep(void)
{
    struct acm_setpolicy sp;
    char cmd[64];
    rowless();

    /*
     * The children, created in this order into fresh slots, so the sweep walks them in it (and
     * their domain ids grow with it): red, green (binds the port red offers it), green2 (binds the
     * port green offers it), a gamma domain with a loopback channel, a system and a reader domain
     * bound to VIRQ_DOM_EXC. Red's channel to green is forbidden after the change (red and green
     * share nothing), green's to green2 is not (green shares `blue` with itself): red meets
     * (red, green), then green meets (green, green), the same second label, a different first one
     * and another answer. Green's other channels have a lower domain at their other end, which
     * reports them.
     */
    evtchn_port_t red_green, green_green2;
    domid_t red = child(BLOB_MAC_TEST_SSID_RED, "apart-red", "mode=sleep");
    snprintf(cmd, sizeof(cmd), "mode=bind from=%u", red);
    domid_t green = child(BLOB_MAC_TEST_SSID_GREEN, "apart-green", cmd);
    xtf_assert(ev_alloc(red, green, &red_green) == 0, "alloc red's port for green");
    snprintf(cmd, sizeof(cmd), "mode=bind from=%u", green);
    domid_t green2 = child(BLOB_MAC_TEST_SSID_GREEN, "apart-green2", cmd);
    xtf_assert(ev_alloc(green, green2, &green_green2) == 0, "alloc green's port for green2");
    domid_t loop = child(BLOB_MAC_TEST_SSID_GAMMA, "apart-loop", "mode=loop");
    domid_t vsys = child(BLOB_MAC_TEST_SSID_SYSTEM, "apart-virq-sys", "mode=virq");
    domid_t vreader = child(BLOB_MAC_TEST_SSID_READER, "apart-virq-reader", "mode=virq");
    xtf_assert(SELF < red && red < green && green < green2 && green2 < loop && loop < vsys && vsys < vreader,
               "domain ids %u %u %u %u %u %u %u", SELF, red, green, green2, loop, vsys, vreader);

    /*
     * Our channels, in port order: red first (allowed after the change: system keeps `red`),
     * then green's (forbidden: green keeps only `blue`). The sweep meets (system, red) and then
     * (system, green): the same first label, a different second one and another answer.
     */
    evtchn_port_t to_red = channel(red, NULL), to_green[GREEN_CHANNELS];
    for (unsigned i = 0; i < GREEN_CHANNELS; i++)
        to_green[i] = channel(green, NULL);
    xtf_assert(wait_status(red, red_green, EVTCHNSTAT_interdomain), "green never bound red's port");
    xtf_assert(wait_status(green, green_green2, EVTCHNSTAT_interdomain), "green2 never bound green's port");
    xtf_assert(wait_for(loop, has_loop), "the loop domain never bound its loopback channel");
    xtf_assert(wait_for(vsys, has_virq) && wait_for(vreader, has_virq), "VIRQ_DOM_EXC never bound");

    /*
     * A conflict at Chinese Wall type 0 (alpha against the running free domains: alpha walked
     * last, so its own type is the one found in the aggregate) together with the sharing and
     * privilege violations below: a conflict no mode can fix is the only violation reported, in
     * both modes, and nothing is swept.
     */
    xtf_check_eq(BLOB_MAC_TEST_APART_CHWALL_ALPHA, 0);
    domid_t alpha = child(BLOB_MAC_TEST_SSID_ALPHA, "apart-alpha", "mode=sleep");
    for (uint32_t mode = ACM_MODE_REFUSE; mode <= ACM_MODE_REVOKE; mode++) {
        memset(v, 0, sizeof(v));
        xtf_check_eq(acm_setpolicy(blob_mac_test_apart, sizeof(blob_mac_test_apart), mode, v, NV, &sp), -XEN_EBUSY);
        xtf_check_eq(sp.nr_errors, 1);
        xtf_check(count(1, ACM_CHWALL_CONFLICT, BLOB_MAC_TEST_APART_CHWALL_ALPHA) == 1, "mode %u: (%#x, %#x)", mode,
                  v[0].code, v[0].param);
    }
    kill(alpha);
    xtf_assert(wait_gone(alpha), "the alpha domain did not go");
    printf("sweep: a conflict at type 0 refused alone in both modes\n");

    /*
     * Refuse mode: every forbidden item once, by its lower end; the loopback channel twice, once
     * for each of its ends (both are the loop domain's); the reader's VIRQ_DOM_EXC binding, not
     * the system child's (system keeps read_state), and no domain that has no binding at all.
     */
    memset(v, 0, sizeof(v));
    xtf_check_eq(acm_setpolicy(blob_mac_test_apart, sizeof(blob_mac_test_apart), ACM_MODE_REFUSE, v, NV, &sp),
                 -XEN_EBUSY);
    for (uint32_t i = 0; i < sp.nr_errors && i < NV; i++)
        printf("sweep: refuse: violation (%#x, %#010x)\n", v[i].code, v[i].param);
    xtf_check_eq(sp.nr_errors, GREEN_CHANNELS + 4);
    xtf_check_eq(count(sp.nr_errors, ACM_EVTCHN_SHARING_VIOLATION, pair(SELF, green)), GREEN_CHANNELS);
    xtf_check_eq(count(sp.nr_errors, ACM_EVTCHN_SHARING_VIOLATION, pair(red, green)), 1);
    xtf_check_eq(count(sp.nr_errors, ACM_EVTCHN_SHARING_VIOLATION, pair(loop, loop)), 2);
    xtf_check_eq(count(sp.nr_errors, ACM_PRIVILEGE_VIOLATION, pair(vreader, VIRQ_DOM_EXC)), 1);
    xtf_check(status_is(SELF, to_green[0], EVTCHNSTAT_interdomain), "a refused load changed a channel");
    printf("sweep: refuse: %u violations\n", sp.nr_errors);

    /* Revoke mode: exactly the forbidden items go (one revocation closes both loopback ends). */
    struct acm_stats s0 = mac_stats();
    memset(&sp, 0x55, sizeof(sp));
    xtf_check_eq(acm_setpolicy(blob_mac_test_apart, sizeof(blob_mac_test_apart), ACM_MODE_REVOKE, v, NV, &sp), 0);
    xtf_check_eq(sp.nr_errors, 0);
    xtf_check_eq(sp.revoked_evtchn, GREEN_CHANNELS + 2);
    xtf_check_eq(sp.revoked_grants, 0);
    xtf_check_eq(sp.revoked_virqs, 1);
    struct acm_stats s1 = mac_stats();
    xtf_check_eq(s1.revoked_evtchn - s0.revoked_evtchn, GREEN_CHANNELS + 2);
    xtf_check_eq(s1.revoked_virqs - s0.revoked_virqs, 1);
    printf("sweep: revoke: %u channels, %u grant mappings, %u VIRQ bindings\n", sp.revoked_evtchn, sp.revoked_grants,
           sp.revoked_virqs);
    xtf_check(status_is(SELF, to_red, EVTCHNSTAT_interdomain), "our channel to red was revoked");
    for (unsigned i = 0; i < GREEN_CHANNELS; i++) {
        xtf_check(status_is(SELF, to_green[i], EVTCHNSTAT_unbound), "our channel %u to green was kept", i);
        ev_close(to_green[i]);
    }
    xtf_check(status_is(red, red_green, EVTCHNSTAT_unbound), "red's channel to green was kept");
    xtf_check(status_is(green, green_green2, EVTCHNSTAT_interdomain), "green's channel to green2 was revoked");
    xtf_check_eq(loop_ports(loop), 0);
    xtf_check(virq_port(vsys) != 0, "the system child lost VIRQ_DOM_EXC");
    xtf_check_eq(virq_port(vreader), 0);

    /* Back to the boot policy once the children are gone. */
    domid_t all[] = {red, green, green2, loop, vsys, vreader};
    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        kill(all[i]);
    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        xtf_check(wait_gone(all[i]), "domain %u did not go", all[i]);
    xtf_check_eq(acm_setpolicy(blob_mac_test, sizeof(blob_mac_test), ACM_MODE_REFUSE, NULL, 0, &sp), 0);
    unlabeled();
}
