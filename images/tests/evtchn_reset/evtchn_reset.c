// SPDX-License-Identifier: MIT
// EVTCHNOP_reset racing binds (acceptance 32), two domU domains:
//   role=a b=<domid> rounds=N  allocates ports 1..8 unbound for b, yields so b can bind some,
//                              resets its ports, checks they are all closed; N times. Then
//                              resetting b is refused (-EPERM) and a channel to b still works.
//   role=b a=<domid>           allocates its port 1 for a first, then binds a's ports over and
//                              over, holding them across a's resets: a port a reset hit must read
//                              unbound (naming a), take sends (dropped) and close cleanly. Stops
//                              when a binds its port 1, then answers on it.
#include <moat/evtchn.h>
#include <moat/test.h>

#define PORTS 8
#define TIMEOUT (30 * NS_PER_SEC)

static struct evtchn_status status_of(evtchn_port_t port)
{
    struct evtchn_status st;
    long rc = evtchn_status(DOMID_SELF, port, &st);
    xtf_check(rc == 0, "status(%u) returned %ld", port, rc);
    return st;
}

static void role_a(domid_t b, unsigned long rounds)
{
    for (unsigned long r = 0; r < rounds && xtf_result() <= XTF_SKIP; r++) {
        for (evtchn_port_t p = 1; p <= PORTS; p++) {
            long rc = evtchn_alloc_unbound(b);
            xtf_check(rc == (long)p, "round %lu: alloc_unbound returned %ld, expected %u", r, rc, p);
        }
        for (unsigned long y = 0; y < 1 + r % 3; y++)
            sched_yield();
        xtf_check_eq(evtchn_reset(DOMID_SELF), 0);
        for (evtchn_port_t p = 1; p <= PORTS; p++) {
            struct evtchn_status st = status_of(p);
            xtf_check(st.status == EVTCHNSTAT_closed, "round %lu: port %u status %u after reset", r, p, st.status);
        }
    }
    xtf_check_eq(evtchn_reset(b), -XEN_EPERM);
    // Reset, then rebind: b's port 1 has been waiting for us all along.
    long p = evtchn_connect(b, 1, now_ns() + TIMEOUT);
    xtf_assert(p == 1, "binding b's port 1 after %lu resets returned %ld", rounds, p);
    xtf_check_eq(evtchn_wait(1, now_ns() + TIMEOUT), 0); // the new port's own event
    xtf_check_eq(evtchn_send(1), 0);
    xtf_check_eq(evtchn_wait(1, now_ns() + TIMEOUT), 0);
    printf("%lu resets, then a working channel\n", rounds);
}

static void role_b(domid_t a)
{
    xtf_assert(evtchn_alloc_unbound(a) == 1, "alloc_unbound(a) is not port 1");
    evtchn_port_t held[PORTS];
    unsigned nheld = 0;
    unsigned long binds = 0, reset_hits = 0, refused = 0;
    uint64_t give_up = now_ns() + TIMEOUT;

    while (status_of(1).status != EVTCHNSTAT_interdomain) {
        // The ports held since the last pass: still bound, or unbound for a if a reset hit them.
        for (unsigned i = 0; i < nheld; i++) {
            struct evtchn_status st = status_of(held[i]);
            if (st.status == EVTCHNSTAT_unbound) {
                reset_hits++;
                xtf_check(st.u.unbound.dom == a, "port %u unbound for %u after a reset", held[i], st.u.unbound.dom);
            } else {
                xtf_check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == a,
                          "port %u status %u", held[i], st.status);
            }
            xtf_check_eq(evtchn_send(held[i]), 0);
            xtf_check_eq(evtchn_close(held[i]), 0);
        }
        nheld = 0;
        for (evtchn_port_t p = 1; p <= PORTS; p++) {
            long rc = evtchn_bind_interdomain(a, p);
            if (rc > 0) {
                held[nheld++] = (evtchn_port_t)rc;
                binds++;
            } else if (rc == -XEN_EINVAL) {
                refused++; // free (a just reset) or not there yet
            } else {
                xtf_failure("Fail: bind to a's port %u returned %ld\n", p, rc);
            }
        }
        sched_yield();
        if (now_ns() > give_up || xtf_result() > XTF_SKIP) {
            xtf_failure("Fail: a never bound our port 1\n");
            return;
        }
    }
    for (unsigned i = 0; i < nheld; i++)
        evtchn_close(held[i]);
    printf("binds=%lu reset_hits=%lu refused=%lu\n", binds, reset_hits, refused);
    xtf_check(binds > 0 && reset_hits > 0, "the resets never raced a bound channel");
    xtf_check_eq(evtchn_wait(1, now_ns() + TIMEOUT), 0); // a's send
    xtf_check_eq(evtchn_send(1), 0);
}

void test_main(void)
{
    char role[8] = "";
    cmdline_get("role", role, sizeof(role));
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    if (strcmp(role, "a") == 0)
        role_a((domid_t)cmdline_ulong("b", 1), cmdline_ulong("rounds", 50));
    else if (strcmp(role, "b") == 0)
        role_b((domid_t)cmdline_ulong("a", 0));
    else
        xtf_error("Error: role=a|b, not '%s'\n", role);
    xtf_success(NULL);
}
