// SPDX-License-Identifier: MIT
// SCHEDOP_send_poll (moat's send and poll in one hypercall, public/sched.h) and the guest
// library's evtchn_send_wait on it, between two domains (tests/evtchn/test_evtchn_ops.py):
//   role=a b=<domid> rounds=N   the refusals (an invalid poll port sends nothing; a refused send
//                               does not sleep; high bits never alias a port), the at-once returns,
//                               then N request/answer rounds with b, each answer taken once (the
//                               second with a dropped send, on an unbound port, that still sleeps)
//   role=b a=<domid> rounds=N   answers N requests: the first after 20 ms, every third from the
//                               second on after an event on a second port that wakes a's poll too
//                               early (a must sleep again, not send again)
// Upcalls stay masked on both sides: every event is taken from the pending bits.
#include <moat/evtchn.h>
#include <moat/test.h>

#define TIMEOUT (60 * NS_PER_SEC)

static long send_poll_raw(unsigned long send, unsigned long poll)
{
    return hypercall3(__HYPERVISOR_sched_op, SCHEDOP_send_poll, send, poll);
}

static void check_refusals(void)
{
    long u = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(u > 0, "alloc_unbound(self) returned %ld", u);
    long l = evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)u);
    xtf_assert(l > 0, "bind_interdomain(self, %ld) returned %ld", u, l);
    evtchn_port_clear((evtchn_port_t)u);
    evtchn_port_clear((evtchn_port_t)l); // the new end's own event
    // A poll port that is not valid: -EINVAL, and the send is not made (u stays clear).
    xtf_check_eq(send_poll_raw((unsigned long)l, 0), -XEN_EINVAL);
    xtf_check_eq(send_poll_raw((unsigned long)l, EVTCHN_DEFAULT_PORTS), -XEN_EINVAL);
    xtf_check_eq(send_poll_raw((unsigned long)l, (1UL << 32) | (unsigned long)u), -XEN_EINVAL);
    xtf_check(!evtchn_port_pending((evtchn_port_t)u), "a send_poll refused for its poll port sent");
    // A refused send: its error, no sleep (nothing else would wake us here: the test hangs), and
    // the poll port untouched. A port with bits above 32 is not the port of its low bits.
    xtf_check_eq(send_poll_raw((1UL << 32) | (unsigned long)l, (unsigned long)u), -XEN_EINVAL);
    xtf_check_eq(send_poll_raw(EVTCHN_DEFAULT_PORTS - 1, (unsigned long)u), -XEN_EINVAL); // a free port
    xtf_check(!evtchn_port_pending((evtchn_port_t)u), "a refused send made its peer pending");
    // The send lands before the poll looks: on a loopback channel the call returns at once.
    xtf_check_eq(sched_send_poll((evtchn_port_t)l, (evtchn_port_t)u), 0);
    xtf_check(evtchn_port_test_and_clear((evtchn_port_t)u), "send_poll on a loopback channel: no event");
    xtf_check(!evtchn_port_pending((evtchn_port_t)l), "the loopback send made its own end pending");
    // A port already pending (and masked) is found without a sleep, and left pending.
    evtchn_port_mask((evtchn_port_t)u);
    xtf_check_eq(evtchn_send((evtchn_port_t)l), 0);
    xtf_check_eq(sched_send_poll(0, (evtchn_port_t)u), 0);
    xtf_check(evtchn_port_pending((evtchn_port_t)u), "send_poll cleared the pending bit");
    // The library's wait takes it (and an event the dispatcher had latched is taken alike).
    xtf_check_eq(evtchn_send_wait(0, (evtchn_port_t)u), 0);
    xtf_check(!evtchn_port_pending((evtchn_port_t)u), "evtchn_send_wait left the event pending");
    xtf_check_eq(evtchn_close((evtchn_port_t)l), 0);
    xtf_check_eq(evtchn_close((evtchn_port_t)u), 0);
    printf("refusals checked\n");
}

static void role_a(void)
{
    domid_t b = (domid_t)cmdline_ulong("b", 1);
    unsigned rounds = (unsigned)cmdline_ulong("rounds", 100);
    check_refusals();
    // b's ports 1 (requests and answers) and 2 (the early wake-ups).
    long p = evtchn_connect(b, 1, now_ns() + TIMEOUT), n = evtchn_connect(b, 2, now_ns() + TIMEOUT);
    xtf_assert(p > 0 && n > 0, "binding b's ports: %ld, %ld", p, n);
    evtchn_port_mask((evtchn_port_t)p);
    evtchn_port_mask((evtchn_port_t)n);
    evtchn_port_clear((evtchn_port_t)p);
    evtchn_port_clear((evtchn_port_t)n);
    // The first round by hand: b answers it only after 20 ms (ticks meanwhile) and sends nothing
    // else first, so the poll may return only with the answer there (a sleeping poll without a
    // timeout is not woken by time).
    xtf_check_eq(sched_send_poll((evtchn_port_t)p, (evtchn_port_t)p), 0);
    xtf_check(evtchn_port_test_and_clear((evtchn_port_t)p), "the poll returned before the answer");
    xtf_assert(rounds > 2, "rounds=%u", rounds);
    // The second round by hand too: the request by EVTCHNOP_send, then a send_poll whose send is
    // dropped (an unbound port: nobody listens yet). It still sleeps, until an event: b's early
    // one on n (b sends it before this answer), or the answer.
    long unbound = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(unbound > 0, "alloc_unbound(self): %ld", unbound);
    xtf_check_eq(evtchn_send((evtchn_port_t)p), 0);
    xtf_check_eq(sched_send_poll((evtchn_port_t)unbound, (evtchn_port_t)p), 0);
    xtf_check(evtchn_port_pending((evtchn_port_t)p) || evtchn_port_pending((evtchn_port_t)n),
              "a send_poll whose send was dropped returned before any event");
    xtf_check_eq(evtchn_send_wait(0, (evtchn_port_t)p), 0); // the answer, if the early event woke us
    unsigned early = evtchn_port_test_and_clear((evtchn_port_t)n);
    xtf_check_eq(evtchn_close((evtchn_port_t)unbound), 0);
    for (unsigned i = 2; i < rounds; i++) {
        long rc = evtchn_send_wait((evtchn_port_t)p, (evtchn_port_t)p);
        xtf_assert(rc == 0, "round %u: evtchn_send_wait returned %ld", i, rc);
        xtf_assert(!evtchn_port_pending((evtchn_port_t)p), "round %u: the answer came twice", i);
        if (evtchn_port_test_and_clear((evtchn_port_t)n))
            early++;
    }
    printf("a: %u rounds, %u early wake-ups\n", rounds, early);
    // Done (on n: b's check of p must see nothing from us), then stay alive until b's bye on p (our
    // death would set b's ends pending). The bye cannot meet the last answer in one pending bit:
    // b sends it only after our done, which follows our taking that answer.
    xtf_check_eq(evtchn_send_wait((evtchn_port_t)n, (evtchn_port_t)p), 0);
}

static void role_b(void)
{
    domid_t a = (domid_t)cmdline_ulong("a", 0);
    unsigned rounds = (unsigned)cmdline_ulong("rounds", 100);
    long p = evtchn_alloc_unbound(a), n = evtchn_alloc_unbound(a);
    xtf_assert(p == 1 && n == 2, "alloc_unbound: %ld, %ld (a binds ports 1 and 2)", p, n);
    evtchn_port_mask((evtchn_port_t)p);
    unsigned answered = 0;
    long rc = evtchn_send_wait(0, (evtchn_port_t)p); // the first request
    uint64_t until = now_ns() + 20 * NS_PER_MS; // a sleeps in its poll meanwhile
    while (now_ns() < until)
        barrier();
    while (rc == 0) {
        if (answered % 3 == 1) {
            // Wakes a's poll (any event of a domain wakes its pollers) before the answer is there;
            // the yield lets a run and find nothing.
            xtf_check_eq(evtchn_send((evtchn_port_t)n), 0);
            sched_yield();
        }
        answered++;
        if (answered == rounds) {
            rc = evtchn_send((evtchn_port_t)p);
            break;
        }
        rc = evtchn_send_wait((evtchn_port_t)p, (evtchn_port_t)p);
    }
    xtf_check_eq(rc, 0);
    // a's done comes on n after it took the last answer; a request more would be pending by then.
    xtf_check_eq(evtchn_send_wait(0, (evtchn_port_t)n), 0);
    xtf_check(!evtchn_port_pending((evtchn_port_t)p), "a request more than the %u rounds", rounds);
    printf("b: answered %u requests\n", answered);
    xtf_check_eq(evtchn_send((evtchn_port_t)p), 0); // the bye: a may end now
}

void test_main(void)
{
    xtf_assert(evtchn_init() == 0, "evtchn_init");
    evtchn_upcalls_mask();
    if (cmdline_has("role=a"))
        role_a();
    else if (cmdline_has("role=b"))
        role_b();
    else
        xtf_error("Error: role=a|b\n");
    xtf_success(NULL);
}
