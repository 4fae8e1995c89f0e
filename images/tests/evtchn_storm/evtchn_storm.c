// SPDX-License-Identifier: MIT
// An event storm from one domain must not starve a third (acceptance 40):
//   role=receiver sender=<domid> [block]
//                                  port 1: the storm, port 2: stop; handles events in upcalls
//                                  while it spins until the stop event (so every domain is
//                                  runnable and the sender spends whole slices sending), or
//                                  with `block` from the event loop (then every send wakes it)
//   role=worker sender=<domid> iterations=N
//                                  port 1: done; computes N iterations, measuring its own CPU
//                                  share from rdtsc gaps, then tells the sender it is done
//   role=sender receiver=<domid> worker=<domid>
//                                  sends to the receiver as fast as it can until the worker is
//                                  done; if that never happens the worker was starved
#include <moat/evtchn.h>
#include <moat/test.h>

#define TIMEOUT (60 * NS_PER_SEC)

static volatile unsigned long storm_calls;
static volatile bool stopped;

static void on_storm(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    storm_calls++;
}

static void on_stop(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    stopped = true;
}

static bool is_stopped(void *ctx)
{
    (void)ctx;
    return stopped;
}

static void role_receiver(domid_t sender, bool block)
{
    xtf_assert(evtchn_alloc_unbound(sender) == 1 && evtchn_alloc_unbound(sender) == 2, "alloc_unbound");
    evtchn_set_handler(1, on_storm, NULL);
    evtchn_set_handler(2, on_stop, NULL);
    long rc = 0;
    uint64_t deadline = now_ns() + TIMEOUT;
    if (block) {
        rc = evtchn_loop(is_stopped, NULL, deadline);
    } else {
        // Never blocks, never makes a hypercall: events arrive as upcalls when it is scheduled.
        while (!stopped && now_ns() < deadline)
            barrier();
        rc = stopped ? 0 : -XEN_ETIMEDOUT;
    }
    printf("receiver: %lu handler calls in %lu upcalls\n", storm_calls, (unsigned long)evtchn_upcall_count);
    xtf_check(rc == 0, "waiting for the stop event returned %ld", rc);
    xtf_check(storm_calls > 0, "no storm event arrived");
}

static void role_worker(domid_t sender, unsigned long iterations)
{
    xtf_assert(evtchn_alloc_unbound(sender) == 1, "alloc_unbound");
    // CPU time is what passes between two close samples; a gap of more than 50 us means another
    // domain had the CPU (a slice is milliseconds, 256 iterations are a few microseconds).
    uint64_t start = now_ns(), prev = start, mine = 0, mix = 0;
    for (unsigned long i = 0; i < iterations; i++) {
        mix = mix * 6364136223846793005ULL + i;
        if ((i & 255) == 0) {
            uint64_t t = now_ns();
            if (t - prev < 50 * NS_PER_US)
                mine += t - prev;
            prev = t;
        }
    }
    uint64_t total = now_ns() - start;
    unsigned long share = total ? (unsigned long)(mine * 100 / total) : 0;
    printf("worker done: %lu iterations in %lu us, cpu share %lu%% (check %lx)\n", iterations,
           (unsigned long)(total / NS_PER_US), share, (unsigned long)(mix & 0xf));
    xtf_check_eq(evtchn_send(1), 0);
}

static void role_sender(domid_t receiver, domid_t worker)
{
    uint64_t deadline = now_ns() + TIMEOUT;
    long storm = evtchn_connect(receiver, 1, deadline), stop = evtchn_connect(receiver, 2, deadline);
    long done = evtchn_connect(worker, 1, deadline);
    xtf_assert(storm > 0 && stop > 0 && done > 0, "binds: %ld %ld %ld", storm, stop, done);
    // Every bind left our new port pending: only the worker's own send may count.
    evtchn_take_fired((evtchn_port_t)done);
    evtchn_port_clear((evtchn_port_t)done);
    evtchn_port_mask((evtchn_port_t)done);
    unsigned long sends = 0;
    while (!evtchn_port_pending((evtchn_port_t)done)) {
        for (int i = 0; i < 64; i++)
            evtchn_send((evtchn_port_t)storm);
        sends += 64;
        if (now_ns() > deadline) {
            xtf_failure("Fail: the worker did not finish during the storm (%lu sends)\n", sends);
            break;
        }
    }
    printf("storm over: %lu sends\n", sends);
    xtf_check_eq(evtchn_send((evtchn_port_t)stop), 0);
}

void test_main(void)
{
    char role[12] = "";
    cmdline_get("role", role, sizeof(role));
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    if (strcmp(role, "receiver") == 0)
        role_receiver((domid_t)cmdline_ulong("sender", 0), cmdline_has("block"));
    else if (strcmp(role, "worker") == 0)
        role_worker((domid_t)cmdline_ulong("sender", 0), cmdline_ulong("iterations", 20000000));
    else if (strcmp(role, "sender") == 0)
        role_sender((domid_t)cmdline_ulong("receiver", 1), (domid_t)cmdline_ulong("worker", 2));
    else
        xtf_error("Error: role=sender|receiver|worker, not '%s'\n", role);
    xtf_success(NULL);
}
