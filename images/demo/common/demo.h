/* SPDX-License-Identifier: MIT */
/*
 * What the demo's domains (images/demo/demo.toml) agree on, and their small shared helpers.
 *
 * The system domain runs the story one step at a time. It talks to every other boot domain (an
 * "actor") over a control channel: each actor's first port, allocated for the system domain, is
 * DEMO_CTL_PORT; the system domain binds to it. A control event carries no data: the system sends
 * "go" (start your next step), the actor answers "done" (that step went as intended). The two
 * strictly alternate, so no event is ever merged into another; an actor whose step went wrong
 * says so and exits with a failure instead of answering, which the system domain sees as its
 * control port turning unbound (a dead peer's ports do that).
 *
 * No domain calls evtchn_init: upcalls stay masked and every wait polls the port's pending bit
 * with SCHEDOP_poll (the vchan library waits the same way), so an event is never taken by an
 * upcall handler before the code waiting for it looks.
 */
#ifndef DEMO_H
#define DEMO_H

#include <moat/evtchn.h>
#include <moat/guest.h>

#define DEMO_CTL_PORT 1 /* an actor's first port: the control channel, bound by the system domain */
#define DEMO_HB_PORT 2  /* backup's second port: the heartbeat channel, bound by a-db */
#define DEMO_HEARTBEATS 3
#define DEMO_VCHAN_BYTES (4u << 20) /* what a-web streams to a-db */
/* Every wait is bounded, generously: TCG on a loaded machine can be slow, but never this slow. */
#define DEMO_WAIT_NS (90 * NS_PER_SEC)

/* "(d<id>) <name>: ..." on the console. */
#define say(fmt, ...) printf("%s: " fmt "\n", start_info->name, ##__VA_ARGS__)

/* Ends the domain with a failure after saying why. */
#define fail(fmt, ...)                                  \
    do {                                                \
        say("FAILED: " fmt, ##__VA_ARGS__);             \
        exit(1);                                        \
    } while (0)

/* Sleeps until port is pending (the bit stays set for the caller) or the deadline passes. */
static inline bool demo_wait(evtchn_port_t port, uint64_t deadline_ns)
{
    while (!evtchn_port_pending(port)) {
        if (now_ns() >= deadline_ns)
            return false;
        sched_poll(&port, 1, deadline_ns);
    }
    return true;
}

/* Whether our port is still bound to a peer. */
static inline bool demo_port_bound(evtchn_port_t port)
{
    struct evtchn_status st;
    return evtchn_status(DOMID_SELF, port, &st) == 0 && st.status == EVTCHNSTAT_interdomain;
}

/* An actor's start: the control channel must be our first port, for the system domain (0). */
static inline void actor_ctl_open(void)
{
    long port = evtchn_alloc_unbound(0);
    if (port != DEMO_CTL_PORT)
        fail("control port: got %ld, expected %d", port, DEMO_CTL_PORT);
}

/* Waits for the system domain's next "go". */
static inline void actor_wait_go(void)
{
    if (!demo_wait(DEMO_CTL_PORT, now_ns() + DEMO_WAIT_NS))
        fail("the system domain never said go");
    evtchn_port_clear(DEMO_CTL_PORT);
    if (!demo_port_bound(DEMO_CTL_PORT))
        fail("the system domain is gone");
}

/* A customer's domain ends when its customer's management domain destroys it: wait for that.
 * The system domain outlives every such domain when the story goes well, so its end (our
 * control port turns unbound and pending) means the story failed: we leave at once, not at the
 * deadline. */
static inline __attribute__((noreturn)) void actor_wait_managed(void)
{
    if (!demo_wait(DEMO_CTL_PORT, now_ns() + 2 * DEMO_WAIT_NS))
        fail("our customer's management domain never ended us");
    if (!demo_port_bound(DEMO_CTL_PORT))
        fail("the system domain is gone: the story failed");
    fail("the system domain said go after our part was over");
}

/* Tells the system domain that our step went as intended. */
static inline void actor_done(void)
{
    if (evtchn_send(DEMO_CTL_PORT) != 0)
        fail("cannot reach the system domain");
}

#endif
