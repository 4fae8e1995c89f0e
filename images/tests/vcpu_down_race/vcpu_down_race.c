// SPDX-License-Identifier: MIT
// VCPUOP_down against a block or poll that waits for the hypervisor lock (tests/vcpu/,
// scenario vcpu_down_race: four vCPUs pinned to four CPUs, booted with all CPUs in one host
// thread). A vCPU taken down while its SCHEDOP_block or SCHEDOP_poll waited for the lock must stay
// down: is_up 0, not revived by the next event, until VCPUOP_up (sched_block_current, which once
// set it BLOCKED). Only vCPU 0 prints.
//
// The race needs the victim's hypercall to be inside the hypervisor (its frame not resumable, so
// the down's IPI leaves it alone) and to take the lock only after the down. The ticket lock
// serves in arrival order, so the down must have its ticket first, and the victim must enter its
// hypercall before the down's IPI reaches its CPU. Each round orders the arrivals so:
//   - vCPU 2 (the holder) takes vCPU 3 down while vCPU 3 spins in its guest: its hypercall holds
//     the lock and waits for CPU 3 to answer its IPI (smp_call);
//   - meanwhile vCPU 0 (the downer) calls VCPUOP_down on vCPU 1 and waits for the lock, and then
//     vCPU 1 (the victim) calls SCHEDOP_block (odd rounds) or SCHEDOP_poll (even rounds, a port
//     that is never pending, no timeout) and waits behind it;
//   - the holder returns; the down runs, its IPI finds CPU 1 in a hypercall and does nothing;
//     then the victim's block or poll runs with the victim already down.
// All CPUs take turns in one host thread (QEMU's thread=single), and one that executes `pause`
// gives way to the next, in CPU order: the holder's wait for CPU 3 lets CPU 3 answer (its ticket
// first), then CPU 0 (the down's ticket), then CPU 1 (the victim's), so the order above is the one
// the machine runs in nearly every round, not a matter of luck. The holder starts a round only
// when the downer and the victim both spin on `go` and vCPU 3 runs; `go` is stored just before its
// hypercall, with no `pause` in between.
//
// After each down the downer checks that vCPU 1 is down (is_up 0), sends it an event (which wakes
// a vCPU wrongly left blocked), waits, and checks again that it is down and did not run; then it
// brings it up and waits for it to come back. After a poll round the victim blocks once more, and
// an event bound to vCPU 0 must not end that block (a vCPU brought up still marked as polling
// would wake: sched_vcpu_up ends the poll it began while going down). Cmdline: rounds=N
// (default 100).
#include <moat/evtchn.h>
#include <moat/guest.h>
#include <moat/test.h>
#include <moat/vcpu.h>

#define VICTIM 1
#define HOLDER 2
#define TARGET 3

static unsigned rounds;
static unsigned go;              // the round the holder started
static unsigned downer_ready;    // the downer spins on go for this round
static unsigned victim_ready;    // the victim spins on go for this round
static unsigned victim_back;     // the last round whose block or poll returned on the victim
static uint64_t target_beat;     // vCPU 3 runs: it counts
static unsigned probes_handled;  // the downer's events, handled on the victim
static unsigned quiet, quiet_back; // the round whose quiet block the victim began, and ended
static unsigned woken_for_nothing; // quiet blocks that returned without a probe
static evtchn_port_t probe, poll_port, noise;

static inline void relax(void) { __asm__ volatile("pause"); }

static void wait_for(const unsigned *what, unsigned want)
{
    while (__atomic_load_n(what, __ATOMIC_ACQUIRE) != want)
        relax();
}

static void probed(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    __atomic_add_fetch(&probes_handled, 1, __ATOMIC_SEQ_CST);
}

static void victim(unsigned me)
{
    (void)me;
    for (unsigned n = 1;; n++) {
        __atomic_store_n(&victim_ready, n, __ATOMIC_RELEASE);
        wait_for(&go, n);
        // Neither returns before the downer brings this vCPU up again: no event is pending for
        // it (the last probe was handled on the way back from the last round) and poll_port is
        // never sent to.
        if (n & 1) {
            sched_block();
        } else {
            evtchn_port_t p = poll_port;
            sched_poll(&p, 1, 0);
        }
        __atomic_store_n(&victim_back, n, __ATOMIC_RELEASE);
        if (n & 1)
            continue;
        // Back from a poll: a block that only an event of its own may end. A vCPU brought up
        // still marked as polling (sched_vcpu_up must end the poll it began while going down)
        // is woken by any event of the domain: here the downer's noise, bound to vCPU 0.
        unsigned before = __atomic_load_n(&probes_handled, __ATOMIC_ACQUIRE);
        __atomic_store_n(&quiet, n, __ATOMIC_RELEASE);
        sched_block();
        if (__atomic_load_n(&probes_handled, __ATOMIC_ACQUIRE) == before)
            __atomic_add_fetch(&woken_for_nothing, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&quiet_back, n, __ATOMIC_RELEASE);
    }
}

static void holder(unsigned me)
{
    (void)me;
    for (unsigned n = 1;; n++) {
        uint64_t beat = __atomic_load_n(&target_beat, __ATOMIC_ACQUIRE);
        while (__atomic_load_n(&target_beat, __ATOMIC_ACQUIRE) == beat) // vCPU 3 is running
            relax();
        wait_for(&downer_ready, n);
        wait_for(&victim_ready, n);
        __atomic_store_n(&go, n, __ATOMIC_RELEASE);
        vcpu_down(TARGET); // holds the lock until CPU 3 answers (see the top of the file)
        HYPERVISOR_vcpu_op(VCPUOP_up, TARGET, NULL);
    }
}

static void target(unsigned me)
{
    (void)me;
    for (;;) {
        __atomic_add_fetch(&target_beat, 1, __ATOMIC_RELEASE);
        relax();
    }
}

// Waits about `ns` (giving way at each `pause`, so the other CPUs run meanwhile).
static void linger(uint64_t ns)
{
    uint64_t until = now_ns() + ns;
    while (now_ns() < until)
        relax();
}

// Waits until the victim sets *what to n, sending it a probe again every 100 us (a block or poll
// it began after the last one needs another); true if it took more than the first.
static bool wake_until(const unsigned *what, unsigned n)
{
    uint64_t deadline = now_ns() + 20000000000ULL; // a loaded host can hold QEMU up for seconds
    bool again = false;
    while (__atomic_load_n(what, __ATOMIC_ACQUIRE) != n && now_ns() < deadline) {
        linger(100000);
        if (__atomic_load_n(what, __ATOMIC_ACQUIRE) != n) {
            evtchn_send(probe);
            again = true;
        }
    }
    return again;
}

static void nothing(evtchn_port_t port, void *data) { (void)port, (void)data; }

void test_main(void)
{
    rounds = (unsigned)cmdline_ulong("rounds", 100);
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    long p = evtchn_bind_ipi(VICTIM);
    xtf_assert(p > 0, "bind_ipi(%u): %ld", VICTIM, p);
    probe = (evtchn_port_t)p;
    evtchn_set_handler(probe, probed, NULL);
    long u = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(u > 0, "alloc_unbound: %ld", u);
    poll_port = (evtchn_port_t)u;
    evtchn_port_mask(poll_port);
    long q = evtchn_bind_ipi(0);
    xtf_assert(q > 0, "bind_ipi(0): %ld", q);
    noise = (evtchn_port_t)q;
    evtchn_set_handler(noise, nothing, NULL);
    xtf_assert(vcpu_start(TARGET, target) == 0, "vcpu_start(%u) failed", TARGET);
    xtf_assert(vcpu_start(VICTIM, victim) == 0, "vcpu_start(%u) failed", VICTIM);
    xtf_assert(vcpu_start(HOLDER, holder) == 0, "vcpu_start(%u) failed", HOLDER);

    unsigned up_after_down = 0, ran_while_down = 0, late = 0, done = 0;
    for (unsigned n = 1; n <= rounds; n++) {
        __atomic_store_n(&downer_ready, n, __ATOMIC_RELEASE);
        wait_for(&go, n);
        long rc = vcpu_down(VICTIM);
        long up = vcpu_is_up(VICTIM);
        unsigned back = __atomic_load_n(&victim_back, __ATOMIC_ACQUIRE);
        unsigned handled = __atomic_load_n(&probes_handled, __ATOMIC_ACQUIRE);
        const char *how = n & 1 ? "block" : "poll";
        if (rc != 0 || up != 0) {
            printf("round %u (%s): VCPUOP_down returned %ld, then is_up %ld\n", n, how, rc, up);
            up_after_down++;
        }
        // An event for it: a vCPU wrongly left blocked wakes and runs; a down one stays down.
        evtchn_send(probe);
        linger(200000);
        long still = vcpu_is_up(VICTIM);
        unsigned back2 = __atomic_load_n(&victim_back, __ATOMIC_ACQUIRE);
        unsigned handled2 = __atomic_load_n(&probes_handled, __ATOMIC_ACQUIRE);
        if (still != 0 || back2 != back || handled2 != handled) {
            printf("round %u (%s): vcpu 1 down, then is_up %ld, returned from round %u -> %u, probes %u -> %u\n", n,
                   how, still, back, back2, handled, handled2);
            ran_while_down++;
        }
        if (up_after_down || ran_while_down)
            break; // its state is wrong now: what follows would test nothing
        xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_up, VICTIM, NULL), 0);
        // Back up, it returns from its block or poll (the probe's upcall on the way). Unless the
        // down's IPI caught it still in its guest, before the hypercall (its CPU's turn came too
        // late): then it handles the probe first and blocks or polls only now, and needs another
        // event. Such a round tested nothing of the race, and is counted apart.
        bool again = wake_until(&victim_back, n);
        xtf_assert(__atomic_load_n(&victim_back, __ATOMIC_ACQUIRE) == n,
                   "round %u (%s): vcpu 1, brought up, did not return from its %s (is_up %ld)", n, how, how,
                   vcpu_is_up(VICTIM));
        late += again;
        if (!(n & 1)) {
            wait_for(&quiet, n);
            linger(100000); // it sleeps in its quiet block by now
            evtchn_send(noise);
            linger(200000);
            evtchn_send(probe);
            wake_until(&quiet_back, n);
            xtf_assert(__atomic_load_n(&quiet_back, __ATOMIC_ACQUIRE) == n,
                       "round %u: vcpu 1 did not return from its quiet block", n);
        }
        done = n;
    }
    unsigned spurious = __atomic_load_n(&woken_for_nothing, __ATOMIC_ACQUIRE);
    printf("down race: %u rounds, vcpu 1 up right after its down in %u, ran while down in %u; %u began its wait only "
           "after its up; %u quiet blocks woken by another vcpu's event\n",
           done, up_after_down, ran_while_down, late, spurious);
    xtf_check_eq(up_after_down, 0);
    xtf_check_eq(ran_while_down, 0);
    xtf_check_eq(spurious, 0);
    xtf_check_eq(done, rounds);
    xtf_success("Success: %u rounds\n", done);
}
