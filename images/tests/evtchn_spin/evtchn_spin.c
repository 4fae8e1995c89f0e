// SPDX-License-Identifier: MIT
// An upcall reaches a guest that spins without hypercalls, within one time slice:
//   role=spinner pinger=<domid> rounds=N   port 1 for the pinger; its handler stamps the time and
//                                          answers; the main loop only spins
//   role=pinger spinner=<domid> rounds=N   sends, then spins (no hypercalls) until the answer's
//                                          upcall; prints when it sent, the spinner prints when
//                                          its handler ran. tests/evtchn/ pairs the lines: the
//                                          delay is at most what is left of the pinger's slice.
// Nothing here blocks or yields: if upcalls were delivered only on hypercall return, neither
// side would ever see an event and both would fail at their deadline.
#include <moat/evtchn.h>
#include <moat/test.h>

#define TIMEOUT (20 * NS_PER_SEC)
#define MAX_ROUNDS 64

static uint64_t stamps[MAX_ROUNDS];
static volatile unsigned got;
static unsigned long rounds;

static void on_ping(evtchn_port_t port, void *data)
{
    (void)data;
    if (got < MAX_ROUNDS)
        stamps[got] = now_ns();
    got++;
    evtchn_send(port);
}

static void on_pong(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    got++;
}

static bool spin_until(unsigned target, uint64_t deadline)
{
    while (got < target)
        if (now_ns() > deadline)
            return false;
    return true;
}

static void role_spinner(domid_t pinger)
{
    xtf_assert(evtchn_alloc_unbound(pinger) == 1, "alloc_unbound");
    evtchn_set_handler(1, on_ping, NULL);
    if (!spin_until((unsigned)rounds, now_ns() + TIMEOUT))
        xtf_failure("Fail: %u of %lu events reached the spinning domain\n", got, rounds);
    for (unsigned i = 0; i < got && i < MAX_ROUNDS; i++)
        printf("got %u at %lu\n", i, (unsigned long)stamps[i]);
}

static void role_pinger(domid_t spinner)
{
    long p = evtchn_connect(spinner, 1, now_ns() + TIMEOUT);
    xtf_assert(p > 0, "bind returned %ld", p);
    xtf_check_eq(evtchn_wait((evtchn_port_t)p, now_ns() + TIMEOUT), 0); // the new port's own event
    evtchn_set_handler((evtchn_port_t)p, on_pong, NULL);
    for (unsigned i = 0; i < rounds; i++) {
        stamps[i] = now_ns();
        evtchn_send((evtchn_port_t)p);
        if (!spin_until(i + 1, now_ns() + TIMEOUT)) {
            xtf_failure("Fail: no answer to round %u reached the spinning pinger\n", i);
            break;
        }
    }
    for (unsigned i = 0; i < got && i < rounds; i++)
        printf("sent %u at %lu\n", i, (unsigned long)stamps[i]);
}

void test_main(void)
{
    char role[12] = "";
    cmdline_get("role", role, sizeof(role));
    rounds = cmdline_ulong("rounds", 20);
    xtf_assert(rounds <= MAX_ROUNDS, "rounds=%lu is more than %d", rounds, MAX_ROUNDS);
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    if (strcmp(role, "spinner") == 0)
        role_spinner((domid_t)cmdline_ulong("pinger", 0));
    else if (strcmp(role, "pinger") == 0)
        role_pinger((domid_t)cmdline_ulong("spinner", 1));
    else
        xtf_error("Error: role=spinner|pinger, not '%s'\n", role);
    xtf_success(NULL);
}
