// SPDX-License-Identifier: MIT
// Event-channel ping-pong between two domains: ping sends, pong's handler (entered by an upcall)
// sends back, ping's handler sees the answer. Both sleep in evtchn_loop (SCHEDOP_block) between
// events, so one round trip is: send, wake and switch to pong, upcall, handler, send, iret,
// block, switch to ping, upcall, handler, iret, and the loop's check.
//   role=ping pong=<domid> figure=<name> [ports=N] [load=<first domid>,<count>] [samples=N]
//   role=pong ping=<domid> [ports=N]
//   role=load ping=<domid> [storm=hypercall|event]  spins (runnable all the time) until ping tells
//                               it to stop; with storm=, making hypercalls or sending itself events
// path=poll (both sides; pong also rounds=<ping's WARMUP + samples>): the leanest path the ABI
// offers instead of upcalls: upcalls and the ping-pong port masked, each side sends and sleeps
// until the answer in one hypercall (evtchn_send_wait: SCHEDOP_send_poll), then takes the pending
// bit itself. pong answers exactly `rounds` pings and ends; ping checks after each round that the
// answer came once (the port is not pending again), and each side prints its count.
// ports=N: each side first binds N more ports (loopback pairs), so the ping-pong ports come
// after them (the upcall scan then finds them in a later selector word).
// pong's next port (after the ping-pong one) and port 1 of each load domain: ping binds and sends
// there at the end, to stop them.
#include <moat/bench.h>
#include <moat/evtchn.h>
#include <moat/test.h>

#define WARMUP 10u
#define TIMEOUT (600 * NS_PER_SEC)

static uint64_t samples[BENCH_MAX_SAMPLES];
static volatile unsigned long answers;
static volatile bool stop;

static void on_answer(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    answers++;
}

static void on_ping(evtchn_port_t port, void *data)
{
    (void)data;
    evtchn_send(port);
}

static void on_stop(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    stop = true;
}

static unsigned long target;
static bool answered(void *ctx)
{
    (void)ctx;
    return answers >= target;
}
static bool stopped(void *ctx)
{
    (void)ctx;
    return stop;
}

static bool bind_extra_ports(unsigned long n)
{
    for (unsigned long i = 0; i + 1 < n; i += 2) {
        long a = evtchn_alloc_unbound(DOMID_SELF);
        if (a <= 0 || evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)a) <= 0) {
            xtf_error("Error: binding extra port pair %lu: %ld\n", i / 2, a);
            return false;
        }
    }
    return true;
}

/* path=poll: ping's rounds on port, timed as in ping() below; false if one failed. */
static bool ping_poll(evtchn_port_t port, unsigned n)
{
    evtchn_upcalls_mask();
    evtchn_port_mask(port);
    for (unsigned i = 0; i < WARMUP + n; i++) {
        uint64_t t0 = bench_tsc();
        long rc = evtchn_send_wait(port, port);
        uint64_t d = bench_tsc() - t0;
        if (rc != 0) {
            xtf_error("Error: round %u: evtchn_send_wait returned %ld\n", i, rc);
            return false;
        }
        answers++;
        if (evtchn_port_pending(port)) {
            xtf_failure("Fail: round %u: the answer is pending again\n", i);
            return false;
        }
        if (i >= WARMUP)
            samples[i - WARMUP] = bench_net(d);
    }
    printf("pingpong: ping took %lu answers in %u rounds\n", answers, WARMUP + n);
    return true;
}

static void ping(void)
{
    domid_t pong = (domid_t)cmdline_ulong("pong", 1);
    unsigned n = (unsigned)cmdline_ulong("samples", 200);
    char figure[48] = "evtchn_ping_pong";
    cmdline_get("figure", figure, sizeof(figure));
    if (n > BENCH_MAX_SAMPLES)
        n = BENCH_MAX_SAMPLES;
    if (!bind_extra_ports(cmdline_ulong("ports", 0)))
        return;
    // pong allocates its ports right after its extra ports and announces nothing: bind (with
    // retries while it is not there yet) to its first port past them.
    evtchn_port_t pong_port = (evtchn_port_t)(cmdline_ulong("ports", 0) / 2 * 2 + 1);
    long p = evtchn_connect(pong, pong_port, now_ns() + TIMEOUT);
    if (p <= 0) {
        xtf_error("Error: bind to pong's port %u: %ld\n", pong_port, p);
        return;
    }
    evtchn_port_t port = (evtchn_port_t)p;
    evtchn_wait(port, 0); // the new port's own event
    bench_overhead();
    if (cmdline_has("path=poll")) { // pong ends after its rounds: nothing to stop
        if (ping_poll(port, n))
            bench_report(figure, samples, n, "instructions");
        return;
    }
    evtchn_set_handler(port, on_answer, NULL);
    for (unsigned i = 0; i < WARMUP + n; i++) {
        target = answers + 1;
        uint64_t t0 = bench_tsc();
        evtchn_send(port);
        long rc = evtchn_loop(answered, NULL, 0);
        uint64_t d = bench_tsc() - t0;
        if (rc != 0) {
            xtf_error("Error: event loop returned %ld\n", rc);
            return;
        }
        if (i >= WARMUP)
            samples[i - WARMUP] = bench_net(d);
    }
    bench_report(figure, samples, n, "instructions");

    long stop_port = evtchn_connect(pong, pong_port + 1, now_ns() + TIMEOUT);
    if (stop_port <= 0 || evtchn_send((evtchn_port_t)stop_port) != 0)
        xtf_error("Error: stopping pong: %ld\n", stop_port);
    char load[32];
    if (cmdline_get("load", load, sizeof(load))) {
        // load=<first>,<count>
        unsigned long first = 0, count = 0;
        const char *s = load;
        while (*s >= '0' && *s <= '9')
            first = first * 10 + (unsigned long)(*s++ - '0');
        if (*s == ',')
            s++;
        while (*s >= '0' && *s <= '9')
            count = count * 10 + (unsigned long)(*s++ - '0');
        for (unsigned long d = first; d < first + count; d++) {
            long lp = evtchn_connect((domid_t)d, 1, now_ns() + TIMEOUT);
            if (lp <= 0 || evtchn_send((evtchn_port_t)lp) != 0)
                xtf_error("Error: stopping load domain %lu: %ld\n", d, lp);
        }
    }
}

static void pong(void)
{
    domid_t ping_dom = (domid_t)cmdline_ulong("ping", 0);
    if (!bind_extra_ports(cmdline_ulong("ports", 0)))
        return;
    long p = evtchn_alloc_unbound(ping_dom);
    if (p <= 0) {
        xtf_error("Error: alloc_unbound: %ld\n", p);
        return;
    }
    long q = evtchn_alloc_unbound(ping_dom);
    if (q != p + 1) {
        xtf_error("Error: alloc_unbound (stop port): %ld\n", q);
        return;
    }
    long rc;
    if (cmdline_has("path=poll")) {
        unsigned long rounds = cmdline_ulong("rounds", 0), pings = 0;
        evtchn_upcalls_mask();
        evtchn_port_mask((evtchn_port_t)p);
        rc = rounds ? evtchn_send_wait(0, (evtchn_port_t)p) : 0; // the first ping
        // Each ping answered and the next awaited in one hypercall; the last only answered.
        while (rc == 0 && ++pings < rounds)
            rc = evtchn_send_wait((evtchn_port_t)p, (evtchn_port_t)p);
        if (rc == 0 && rounds)
            rc = evtchn_send((evtchn_port_t)p);
        printf("pingpong: pong answered %lu pings\n", pings);
    } else {
        evtchn_set_handler((evtchn_port_t)p, on_ping, NULL);
        evtchn_set_handler((evtchn_port_t)q, on_stop, NULL);
        rc = evtchn_loop(stopped, NULL, 0); // answers from the handler until ping says stop
    }
    if (rc != 0)
        xtf_error("Error: event loop returned %ld\n", rc);
}

static void on_storm(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
}

/* storm=hypercall: xen_version as fast as it can; storm=event: sends to itself on a loopback
 * channel (an event and an upcall each time); else it only spins. */
static void load(void)
{
    long p = evtchn_alloc_unbound((domid_t)cmdline_ulong("ping", 0));
    if (p <= 0) {
        xtf_error("Error: alloc_unbound: %ld\n", p);
        return;
    }
    evtchn_set_handler((evtchn_port_t)p, on_stop, NULL);
    bool calls = cmdline_has("storm=hypercall"), events = cmdline_has("storm=event");
    long loop = 0;
    if (events) {
        long a = evtchn_alloc_unbound(DOMID_SELF);
        loop = a > 0 ? evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)a) : a;
        if (loop <= 0) {
            xtf_error("Error: loopback channel: %ld\n", loop);
            return;
        }
        evtchn_set_handler((evtchn_port_t)a, on_storm, NULL);
        evtchn_set_handler((evtchn_port_t)loop, on_storm, NULL);
    }
    unsigned long n = 0;
    while (!stop) {
        if (calls)
            HYPERVISOR_xen_version(XENVER_version, NULL);
        else if (events)
            evtchn_send((evtchn_port_t)loop);
        n++;
        barrier();
    }
    if (calls || events)
        printf("storm: %lu %s\n", n, calls ? "hypercalls" : "events sent");
}

void test_main(void)
{
    if (evtchn_init() != 0) {
        xtf_error("Error: evtchn_init\n");
        return;
    }
    if (cmdline_has("role=ping"))
        ping();
    else if (cmdline_has("role=pong"))
        pong();
    else if (cmdline_has("role=load"))
        load();
    else
        xtf_error("Error: role=ping|pong|load\n");
    xtf_success(NULL);
}
