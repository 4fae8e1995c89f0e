// SPDX-License-Identifier: MIT
// Interdomain event channels between three domains (all domU):
//   role=a  allocates the ports and drives the phases below
//   role=b  the main peer
//   role=c  a domain that one of a's ports names, so b's bind to it is refused
//   a=<domid> b=<domid> c=<domid>   who is who (the scenario's domain order)
// a's ports: 1 sync (for b), 2 ctl (for c), 3 named (for c), 4 ack (for b). Every message is
// answered before the next one is sent, so no two messages coalesce into one pending bit.
// Phases: bind and send both ways with the new port pending (acceptance 22); binds to bound,
// free, reserved, out-of-range ports and to a port that names another domain (23); send on
// unbound (24); -EPERM for foreign status/reset/alloc and VIRQ_DOM_EXC as domU; 50 sends to a
// masked port coalesce and unmasking gives one handler call (29); the same with upcall_mask
// (30); a closes while b is in a send loop: b's port becomes unbound naming a, b's sends keep
// returning 0, and a binds again (25); a sleeps in the event loop (SCHEDOP_block) while b sends
// with yields in between, and must not sleep through the last one.
#include <moat/evtchn.h>
#include <moat/test.h>

#define TIMEOUT (20 * NS_PER_SEC) /* per step: TCG on a shared machine, but not "never" */
#define BURST 50

enum { SYNC = 1, CTL = 2, NAMED = 3, ACK = 4 };

static domid_t dom_a, dom_b, dom_c;
static volatile unsigned calls[16];

static void count(evtchn_port_t port, void *data)
{
    (void)data;
    if (port < ARRAY_SIZE(calls))
        calls[port]++;
}

static void wait_for(evtchn_port_t port, const char *what)
{
    long rc = evtchn_wait(port, now_ns() + TIMEOUT);
    if (rc != 0) {
        xtf_failure("Fail: waiting for %s on port %u: %ld\n", what, port, rc);
        xtf_exit();
    }
}

static void send(evtchn_port_t port)
{
    long rc = evtchn_send(port);
    if (rc != 0)
        xtf_failure("Fail: send on port %u returned %ld\n", port, rc);
}

static struct evtchn_status status_of(evtchn_port_t port)
{
    struct evtchn_status st;
    long rc = evtchn_status(DOMID_SELF, port, &st);
    xtf_check(rc == 0, "status(%u) returned %ld", port, rc);
    return st;
}

static void check_interdomain(evtchn_port_t port, domid_t peer, evtchn_port_t peer_port)
{
    struct evtchn_status st = status_of(port);
    xtf_check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == peer &&
                  st.u.interdomain.port == peer_port,
              "port %u: status %u dom %u port %u, expected interdomain with %u:%u", port, st.status,
              st.u.interdomain.dom, st.u.interdomain.port, peer, peer_port);
}

static void check_unbound(evtchn_port_t port, domid_t remote)
{
    struct evtchn_status st = status_of(port);
    xtf_check(st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == remote,
              "port %u: status %u dom %u, expected unbound for %u", port, st.status, st.u.unbound.dom, remote);
}

// Binds to the peer's port (retrying until it exists) with upcalls masked, so the new port can
// be seen pending (acceptance 22); then takes that first event.
static evtchn_port_t connect(domid_t peer, evtchn_port_t port)
{
    uint8_t old = evtchn_upcalls_mask();
    long rc = evtchn_connect(peer, port, now_ns() + TIMEOUT);
    if (rc <= 0) {
        xtf_failure("Fail: bind to %u:%u returned %ld\n", peer, port, rc);
        xtf_exit();
    }
    xtf_check(evtchn_port_pending((evtchn_port_t)rc), "new port %ld (bound to %u:%u) is not pending", rc,
              peer, port);
    evtchn_upcalls_restore(old);
    wait_for((evtchn_port_t)rc, "the new port's first event");
    return (evtchn_port_t)rc;
}

static volatile bool acked;
static void on_ack(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    acked = true;
}
static bool is_acked(void *ctx)
{
    (void)ctx;
    return acked;
}

static unsigned loop_target;
static bool enough_sync_calls(void *ctx)
{
    (void)ctx;
    return calls[SYNC] >= loop_target;
}

static void role_a(void)
{
    xtf_check_eq(evtchn_alloc_unbound(dom_b), SYNC);
    xtf_check_eq(evtchn_alloc_unbound(dom_c), CTL);
    xtf_check_eq(evtchn_alloc_unbound(dom_c), NAMED);
    xtf_check_eq(evtchn_alloc_unbound(dom_b), ACK);
    check_unbound(NAMED, dom_c);
    xtf_check_eq(evtchn_send(NAMED), 0); // acceptance 24: nobody bound, dropped

    // Acceptance 22: b binds and says hello; we answer.
    wait_for(SYNC, "b's hello");
    check_interdomain(SYNC, dom_b, 1);
    send(SYNC);
    wait_for(SYNC, "b's bind checks");

    // The domain our port names can bind it (after b was refused).
    wait_for(CTL, "c's hello");
    send(CTL);
    wait_for(NAMED, "c's send on the named port");
    check_interdomain(NAMED, dom_c, 2);
    send(CTL);

    // Foreign ops and VIRQ_DOM_EXC are for privileged domains only.
    struct evtchn_status st;
    xtf_check_eq(evtchn_status(dom_b, 1, &st), -XEN_EPERM);
    xtf_check_eq(evtchn_reset(dom_b), -XEN_EPERM);
    xtf_check_eq(evtchn_alloc_unbound_in(dom_b, dom_a), -XEN_EPERM);
    xtf_check_eq(evtchn_bind_virq(VIRQ_DOM_EXC, 0), -XEN_EPERM);
    check_interdomain(SYNC, dom_b, 1); // the refused reset closed nothing

    // Acceptance 29 across domains: b's burst to our masked port is one pending bit, and
    // unmasking gives exactly one handler call.
    evtchn_port_mask(SYNC);
    send(SYNC);
    wait_for(ACK, "b's first burst");
    xtf_check(evtchn_port_pending(SYNC), "b's burst left our masked port not pending");
    evtchn_set_handler(SYNC, count, NULL);
    xtf_check_eq(calls[SYNC], 0);
    evtchn_port_unmask(SYNC);
    xtf_check_eq(calls[SYNC], 1);

    // Acceptance 30: with upcall_mask set nothing is delivered; restoring delivers one upcall.
    uint8_t old = evtchn_upcalls_mask();
    send(SYNC);
    wait_for(ACK, "b's second burst");
    xtf_check_eq(calls[SYNC], 1);
    xtf_check(shared_info->vcpu_info[0].evtchn_upcall_pending, "upcall_pending not set");
    evtchn_upcalls_restore(old);
    xtf_check_eq(calls[SYNC], 2);

    // Acceptance 25: close while b is in a send loop, once its sends are arriving.
    send(SYNC);
    loop_target = calls[SYNC] + 3;
    xtf_check_eq(evtchn_loop(enough_sync_calls, NULL, now_ns() + TIMEOUT), 0);
    xtf_check_eq(evtchn_close(SYNC), 0);
    printf("closed while b was sending (%u events so far)\n", calls[SYNC]);
    // b's end is unbound and names us: bind it again (our lowest free port is SYNC again).
    wait_for(ACK, "b's report of the close");
    xtf_check_eq(evtchn_bind_interdomain(dom_b, 1), SYNC);
    check_interdomain(SYNC, dom_b, 1);
    wait_for(SYNC, "the rebound port's first event");
    send(SYNC);
    wait_for(ACK, "b's answer on the rebound channel");

    // The event loop (SCHEDOP_block) while b sends with yields in between; the ack ends it.
    calls[SYNC] = 0;
    evtchn_set_handler(SYNC, count, NULL);
    evtchn_set_handler(ACK, on_ack, NULL);
    send(SYNC);
    xtf_check_eq(evtchn_loop(is_acked, NULL, now_ns() + TIMEOUT), 0);
    printf("event loop: %u handler calls for %d sends\n", calls[SYNC], 200);
    xtf_check(calls[SYNC] >= 1 && calls[SYNC] <= 200, "%u handler calls", calls[SYNC]);
    send(SYNC); // finish
}

static void role_b(void)
{
    evtchn_port_t q = connect(dom_a, SYNC), ack = connect(dom_a, ACK);
    xtf_check_eq(q, 1);
    check_interdomain(q, dom_a, SYNC);
    send(q);
    wait_for(q, "a's answer");

    // Acceptance 23: none of these is an unbound port naming us.
    xtf_check_eq(evtchn_bind_interdomain(dom_a, NAMED), -XEN_EINVAL); // names c
    xtf_check_eq(evtchn_bind_interdomain(dom_a, SYNC), -XEN_EINVAL);  // bound already
    xtf_check_eq(evtchn_bind_interdomain(dom_a, 50), -XEN_EINVAL);    // free
    xtf_check_eq(evtchn_bind_interdomain(dom_a, 0), -XEN_EINVAL);     // reserved
    xtf_check_eq(evtchn_bind_interdomain(dom_a, EVTCHN_MAX_PORTS), -XEN_EINVAL);
    send(q);

    for (int round = 0; round < 2; round++) { // the masked-port and the upcall_mask bursts
        wait_for(q, "a's burst request");
        for (int i = 0; i < BURST; i++)
            send(q);
        send(ack);
    }

    // Send until a closes its end; every send returns 0, before and after.
    wait_for(q, "a's send-loop request");
    unsigned long sends = 0;
    for (;;) {
        struct evtchn_status st = status_of(q);
        if (st.status != EVTCHNSTAT_interdomain)
            break;
        send(q);
        if (++sends > 100000000) {
            xtf_failure("Fail: a never closed\n");
            xtf_exit();
        }
    }
    printf("a closed after %lu sends\n", sends);
    check_unbound(q, dom_a);
    xtf_check_eq(evtchn_send(q), 0);
    send(ack);
    wait_for(q, "a's send on the rebound channel");
    check_interdomain(q, dom_a, SYNC);
    send(ack);

    // Sends with yields while a sleeps in its event loop; then the ack.
    wait_for(q, "a's event-loop request");
    for (int i = 0; i < 200; i++) {
        send(q);
        sched_yield();
    }
    send(ack);
    wait_for(q, "a's finish");
}

static void role_c(void)
{
    evtchn_port_t ctl = connect(dom_a, CTL);
    send(ctl);
    wait_for(ctl, "a's go");
    long p = evtchn_bind_interdomain(dom_a, NAMED);
    xtf_check(p > 0, "binding the port that names us returned %ld", p);
    if (p > 0)
        send((evtchn_port_t)p);
    wait_for(ctl, "a's goodbye");
}

void test_main(void)
{
    char role[8] = "";
    cmdline_get("role", role, sizeof(role));
    dom_a = (domid_t)cmdline_ulong("a", 0);
    dom_b = (domid_t)cmdline_ulong("b", 1);
    dom_c = (domid_t)cmdline_ulong("c", 2);
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    if (strcmp(role, "a") == 0)
        role_a();
    else if (strcmp(role, "b") == 0)
        role_b();
    else if (strcmp(role, "c") == 0)
        role_c();
    else
        xtf_error("Error: role=a|b|c, not '%s'\n", role);
    xtf_success(NULL);
}
