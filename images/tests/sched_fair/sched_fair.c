// SPDX-License-Identifier: MIT
// The scheduler's wake-up boost and its fairness bound. Two domains ping-pong events as fast as
// they can while a third burns CPU:
//   role=ping peer=<domid> rounds=N   allocates port 1 for peer, sends, waits for each reply
//   role=pong peer=<domid> rounds=N   binds to ping's port 1 and answers its N events
//   role=worker units=N               does N units of pure computation
//   role=selfsend rounds=N            sends N events to itself (an IPI port) beside a queued worker:
//                                     each upcall must come on the way out of its own send, at once
// A woken domain under its fair share runs next, so the pair's round trips stay short despite
// the worker (without the boost each would wait out the worker's time slice); and the pair's
// CPU use ends its boost once over its share, so the worker still gets its share (a boost
// without that bound would starve it). tests/domains/test_sched_fair.py checks both.
#include <moat/evtchn.h>
#include <moat/test.h>

static void ping(domid_t peer, unsigned long rounds)
{
    long port = evtchn_alloc_unbound(peer);
    xtf_assert(port > 0, "alloc_unbound returned %ld", port);
    /* A send before pong has bound would be dropped (unbound port): wait until it is connected. */
    for (;;) {
        struct evtchn_status st;
        xtf_assert(evtchn_status(DOMID_SELF, (evtchn_port_t)port, &st) == 0, "status failed");
        if (st.status == EVTCHNSTAT_interdomain)
            break;
        sched_yield();
    }
    uint64_t t0 = now_ns();
    for (unsigned long i = 0; i < rounds; i++) {
        xtf_assert(evtchn_send((evtchn_port_t)port) == 0, "send failed");
        long rc = evtchn_wait((evtchn_port_t)port, 0);
        xtf_assert(rc == 0, "wait returned %ld", rc);
        if ((i + 1) % 1000 == 0)
            printf("pingpong progress: %lu round trips\n", i + 1);
    }
    printf("pingpong done: %lu round trips in %lu ms\n", rounds, (unsigned long)((now_ns() - t0) / 1000000));
}

/* Answers the pinger's rounds, then ends: each round is one event, and the pinger sends the next
 * only once it has the answer to the last, so none of them is lost to a pending one. */
static void pong(domid_t peer, unsigned long rounds)
{
    long port = evtchn_connect(peer, 1, 0);
    xtf_assert(port > 0, "connect returned %ld", port);
    evtchn_wait((evtchn_port_t)port, 0); /* bind_interdomain leaves the new port pending */
    for (unsigned long i = 0; i < rounds; i++) {
        long rc = evtchn_wait((evtchn_port_t)port, now_ns() + 2000000000ULL);
        xtf_assert(rc == 0, "wait for round %lu of %lu returned %ld", i + 1, rounds, rc);
        evtchn_send((evtchn_port_t)port);
    }
    printf("pong done\n");
}

static void worker(unsigned long units)
{
    volatile uint64_t x = 1;
    uint64_t t0 = now_ns();
    for (unsigned long u = 0; u < units; u++)
        for (unsigned i = 0; i < 100000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    printf("worker done: %lu units in %lu ms\n", units, (unsigned long)((now_ns() - t0) / 1000000));
}

static volatile uint64_t self_got_ns;

static void self_got(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    self_got_ns = now_ns();
}

// An event sent to oneself is delivered on the way out of the send: the sender keeps the CPU
// (it neither yielded nor used up its slice), so the upcall comes before anything queued runs.
// The yield first gives a fresh 10 ms slice, which the N rounds (well under a millisecond)
// cannot use up. Prints the longest delay from before the send to the handler.
static void selfsend(unsigned long rounds)
{
    long p = evtchn_bind_ipi(0);
    xtf_assert(p > 0, "bind_ipi returned %ld", p);
    evtchn_set_handler((evtchn_port_t)p, self_got, NULL);
    sched_yield();
    uint64_t worst = 0;
    for (unsigned long i = 0; i < rounds; i++) {
        self_got_ns = 0;
        uint64_t t0 = now_ns();
        xtf_assert(evtchn_send((evtchn_port_t)p) == 0, "send failed");
        xtf_assert(self_got_ns != 0, "no upcall on the way out of send %lu", i);
        if (self_got_ns - t0 > worst)
            worst = self_got_ns - t0;
    }
    printf("selfsend done: %lu sends, longest delay %lu us\n", rounds, (unsigned long)(worst / 1000));
}

void test_main(void)
{
    char role[16] = "";
    cmdline_get("role", role, sizeof(role));
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    domid_t peer = (domid_t)cmdline_ulong("peer", 0);
    if (strcmp(role, "ping") == 0)
        ping(peer, cmdline_ulong("rounds", 1000));
    else if (strcmp(role, "pong") == 0)
        pong(peer, cmdline_ulong("rounds", 1000));
    else if (strcmp(role, "selfsend") == 0)
        selfsend(cmdline_ulong("rounds", 100));
    else if (strcmp(role, "worker") == 0)
        worker(cmdline_ulong("units", 100));
    else
        xtf_error("Error: unknown role '%s'\n", role);
    xtf_success(NULL);
}
