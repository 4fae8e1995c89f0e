// SPDX-License-Identifier: MIT
// Event channels and domain death.
//   role=watcher victim=<domid> rounds=N   (privileged) the test
//   role=victim watcher=<domid>            binds to the watcher, then powers off when told
//   role=bystander victim=<domid>          its port 1 is unbound for the victim until it dies
// The watcher binds VIRQ_DOM_EXC (it may: its label can read other domains' state); when the
// victim dies, the watcher's port becomes unbound to no one (DOMID_INVALID) and pending
// (acceptance 35) and VIRQ_DOM_EXC fires. Then, rounds times, it creates a child with domctl
// (evtchn_child, its own label) that takes the dead victim's domain id, checks the child's ports
// from outside, destroys it (or resets its ports first, in the last round), and creates a probe
// child that takes the id again: its port table is empty and it cannot bind the ports that named
// the dead domain, bound or still unbound (acceptance 36).
#include <moat/evtchn.h>
#include <moat/test.h>

#define TIMEOUT (20 * NS_PER_SEC)

static void wait_for(evtchn_port_t port, const char *what)
{
    long rc = evtchn_wait(port, now_ns() + TIMEOUT);
    if (rc != 0) {
        xtf_failure("Fail: waiting for %s on port %u: %ld\n", what, port, rc);
        xtf_exit();
    }
}

static struct evtchn_status status_in(domid_t dom, evtchn_port_t port)
{
    struct evtchn_status st;
    long rc = evtchn_status(dom, port, &st);
    xtf_check(rc == 0, "status(%u, %u) returned %ld", dom, port, rc);
    return st;
}

static void check_unbound(domid_t dom, evtchn_port_t port, domid_t remote)
{
    struct evtchn_status st = status_in(dom, port);
    xtf_check(st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == remote,
              "d%u port %u: status %u dom %u, expected unbound for %u", dom, port, st.status, st.u.unbound.dom,
              remote);
}

static void drain(evtchn_port_t port)
{
    evtchn_take_fired(port);
    evtchn_port_clear(port);
}

static domid_t create_child(const char *cmdline)
{
    int img = find_image("evtchn_child");
    xtf_assert(img >= 0, "image evtchn_child is not among the modules");
    struct domctl_create_args args = { .image = (uint32_t)img, .memory_kib = 512,
                                       .ssidref = start_info->ssidref, .name = "evtchn-child",
                                       .cmdline = cmdline };
    domid_t d = DOMID_INVALID;
    long rc = domctl_create(&args, &d);
    xtf_assert(rc == 0, "create returned %ld", rc);
    return d;
}

static void role_victim(domid_t watcher)
{
    long p = evtchn_connect(watcher, 2, now_ns() + TIMEOUT);
    xtf_assert(p > 0, "bind to the watcher returned %ld", p);
    wait_for((evtchn_port_t)p, "the new port's first event");
    xtf_check_eq(evtchn_send((evtchn_port_t)p), 0);
    wait_for((evtchn_port_t)p, "the watcher's word");
}

// A third domain: its first port, unbound for the victim, becomes unbound to no one and pending
// when the victim dies, like the watcher's port 2.
static void role_bystander(domid_t victim)
{
    long p = evtchn_alloc_unbound(victim);
    xtf_assert(p == 1, "alloc_unbound(victim) returned %ld", p);
    wait_for(1, "the victim's death");
    check_unbound(DOMID_SELF, 1, DOMID_INVALID);
    printf("bystander: port 1 unbound to no one\n");
}

// One child's life: bound, inspected, destroyed (or reset, then destroyed), then its id reused.
static void child_round(evtchn_port_t dexc, domid_t expect_id, bool reset_first)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "role=bind parent=%u", start_info->domid);
    domid_t c = create_child(cmd);
    xtf_check(c == expect_id, "the child got id %u, not the free id %u", c, expect_id);
    long cp = evtchn_connect(c, 1, now_ns() + TIMEOUT);
    xtf_assert(cp > 0, "bind to the child returned %ld", cp);
    evtchn_port_t cport = (evtchn_port_t)cp;
    wait_for(cport, "the new port's first event");
    long unbound = evtchn_alloc_unbound(c); // named for the child, never bound
    xtf_assert(unbound > 0, "alloc_unbound(child) returned %ld", unbound);
    xtf_check_eq(evtchn_send(cport), 0);
    wait_for(cport, "the child's answer");

    // The child's ports, seen from outside.
    struct evtchn_status st = status_in(c, 1);
    xtf_check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == start_info->domid &&
                  st.u.interdomain.port == cport,
              "child port 1: status %u", st.status);
    st = status_in(c, 2);
    xtf_check(st.status == EVTCHNSTAT_virq && st.u.virq == VIRQ_TIMER, "child port 2: status %u", st.status);
    xtf_check_eq(status_in(c, 3).status, EVTCHNSTAT_ipi);
    check_unbound(c, 4, c);

    drain(dexc);
    if (reset_first) {
        // A privileged domain may reset another's ports: all closed, our end unbound naming it.
        xtf_check_eq(evtchn_reset(c), 0);
        for (evtchn_port_t p = 1; p <= 4; p++)
            xtf_check_eq(status_in(c, p).status, EVTCHNSTAT_closed);
        check_unbound(start_info->domid, cport, c);
        xtf_check(!evtchn_port_pending(cport), "a reset sent us an event");
    }
    xtf_check_eq(domctl_destroy(c), 0);
    // Our ends, bound or only named for the child, are unbound to no one now, and say so.
    wait_for(cport, "the child's death");
    check_unbound(start_info->domid, cport, DOMID_INVALID);
    check_unbound(start_info->domid, (evtchn_port_t)unbound, DOMID_INVALID);
    wait_for(dexc, "VIRQ_DOM_EXC for the child");

    // A new domain with the same id inherits nothing.
    drain(dexc);
    snprintf(cmd, sizeof(cmd), "role=probe parent=%u port=%u port2=%ld", start_info->domid, cport, unbound);
    domid_t probe = create_child(cmd);
    xtf_check(probe == c, "the probe got id %u, not %u", probe, c);
    wait_for(dexc, "the probe's end");
    struct moat_domctl_info info;
    xtf_check_eq(domctl_getinfo(probe, &info), -XEN_ESRCH);
    xtf_check_eq(evtchn_close(cport), 0);
    xtf_check_eq(evtchn_close((evtchn_port_t)unbound), 0);
}

/* The bystander's port for the victim must exist before the victim dies, or the bystander's
 * alloc_unbound finds no victim: the boot does not order the two domains' first hypercalls. */
static void wait_for_bystander(domid_t bystander, domid_t victim)
{
    uint64_t give_up = now_ns() + TIMEOUT;
    struct evtchn_status st = {0};
    while (now_ns() < give_up) {
        if (evtchn_status(bystander, 1, &st) == 0 && st.status == EVTCHNSTAT_unbound)
            break;
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL); /* not sleep_ns: its timer port would be one
                                                   * more pending port after the death */
    }
    xtf_assert(st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == victim,
               "the bystander d%u has no port 1 unbound for d%u (status %u)", bystander, victim, st.status);
}

static void role_watcher(domid_t victim, unsigned long rounds)
{
    long dexc = evtchn_bind_virq(VIRQ_DOM_EXC, 0);
    xtf_assert(dexc > 0, "a privileged domain's bind_virq(DOM_EXC) returned %ld", dexc);
    xtf_check_eq(evtchn_bind_virq(VIRQ_DOM_EXC, 0), -XEN_EEXIST);
    long vp = evtchn_alloc_unbound(victim);
    xtf_assert(vp == 2, "alloc_unbound(victim) returned %ld", vp);
    /* A port never used for a channel keeps remote_dom 0 from its zeroed table: the victim's
     * death (when it is domain 0) must leave it alone, as it leaves the free ports. */
    long ipi = evtchn_bind_ipi(0);
    xtf_assert(ipi == 3, "bind_ipi returned %ld", ipi);
    /* And a port unbound for another domain (ourselves) stays unbound for it. */
    long own = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(own == 4, "alloc_unbound(self) returned %ld", own);
    wait_for(2, "the victim's hello");
    unsigned long bystander = cmdline_ulong("bystander", ~0UL);
    if (bystander != ~0UL)
        wait_for_bystander((domid_t)bystander, victim);

    // Acceptance 35: the peer dies; our port is unbound to no one and pending.
    drain((evtchn_port_t)dexc);
    xtf_check_eq(evtchn_send(2), 0);
    wait_for(2, "the victim's death");
    check_unbound(DOMID_SELF, 2, DOMID_INVALID);
    wait_for((evtchn_port_t)dexc, "VIRQ_DOM_EXC");
    struct moat_domctl_info info;
    xtf_check_eq(domctl_getinfo(victim, &info), -XEN_ESRCH);
    xtf_check_eq(evtchn_send(2), 0);
    printf("victim gone; port 2 unbound to no one\n");
    for (evtchn_port_t p = 3; p < 256; p++) {
        bool fired = evtchn_take_fired(p) || evtchn_port_pending(p);
        xtf_check(!fired, "port %u made pending by the death of d%u", p, victim);
    }
    struct evtchn_status st = status_in(DOMID_SELF, 3);
    xtf_check(st.status == EVTCHNSTAT_ipi, "port 3: status %u after the death, not ipi", st.status);
    check_unbound(DOMID_SELF, 4, start_info->domid);
    xtf_check_eq(evtchn_close(3), 0);
    xtf_check_eq(evtchn_close(4), 0);
    printf("ports the victim never had are untouched\n");

    for (unsigned long i = 0; i < rounds && xtf_result() <= XTF_SKIP; i++)
        child_round((evtchn_port_t)dexc, victim, i + 1 == rounds);
    printf("%lu child rounds done\n", rounds);
}

void test_main(void)
{
    char role[12] = "";
    cmdline_get("role", role, sizeof(role));
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    if (strcmp(role, "watcher") == 0)
        role_watcher((domid_t)cmdline_ulong("victim", 1), cmdline_ulong("rounds", 3));
    else if (strcmp(role, "victim") == 0)
        role_victim((domid_t)cmdline_ulong("watcher", 0));
    else if (strcmp(role, "bystander") == 0)
        role_bystander((domid_t)cmdline_ulong("victim", 0));
    else
        xtf_error("Error: role=watcher|victim|bystander, not '%s'\n", role);
    xtf_success(NULL);
}
