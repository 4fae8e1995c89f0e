// SPDX-License-Identifier: MIT
// System time and timer wake-ups: set_timer_op + SCHEDOP_block sleeps at least until the deadline
// and wakes not much later; a timer can be replaced and cancelled; yield returns at once.
#include <moat/evtchn.h>
#include <moat/test.h>
#include <moat/vcpu.h>

// TCG is slow and the host is shared: allow generous lateness, but not "never".
#define LATE_NS (500 * NS_PER_MS)

static void check_monotonic(void)
{
    uint64_t prev = now_ns();
    for (int i = 0; i < 10000; i++) {
        uint64_t t = now_ns();
        if (t < prev) {
            xtf_failure("Fail: time went backwards: %lu after %lu\n", t, prev);
            return;
        }
        prev = t;
    }
    if (prev == 0)
        xtf_failure("Fail: system time is 0 (is vcpu_time_info filled in?)\n");
}

static void check_sleep(uint64_t ns)
{
    uint64_t start = now_ns(), deadline = start + ns;
    long rc = sleep_until(deadline);
    uint64_t woke = now_ns();

    printf("slept %lu us (asked %lu us)\n", (woke - start) / NS_PER_US, ns / NS_PER_US);
    if (rc != 0)
        xtf_failure("Fail: sleep_until returned %ld\n", rc);
    else if (woke < deadline)
        xtf_failure("Fail: woke %lu ns before the deadline\n", deadline - woke);
    else if (woke - deadline > LATE_NS)
        xtf_failure("Fail: woke %lu us after the deadline\n", (woke - deadline) / NS_PER_US);
}

// One block, no loop: it must return once the (replacing) deadline passes, not at the first one.
static void check_replace_and_cancel(void)
{
    uint64_t start = now_ns();
    HYPERVISOR_set_timer_op(start + 5 * NS_PER_MS);
    HYPERVISOR_set_timer_op(0);                         // cancel
    uint64_t deadline = start + 40 * NS_PER_MS;
    long rc = HYPERVISOR_set_timer_op(deadline);         // the only timer left
    timer_ack();
    if (rc == 0)
        rc = sched_block();
    uint64_t woke = now_ns();
    if (rc != 0)
        xtf_failure("Fail: set_timer_op/block returned %ld\n", rc);
    else if (woke < deadline)
        xtf_failure("Fail: a cancelled or replaced timer woke the domain %lu us early\n",
                    (deadline - woke) / NS_PER_US);
}

static void check_past_deadline(void)
{
    // A deadline already passed fires at once: block must not sleep forever.
    uint64_t start = now_ns();
    timer_ack();
    long rc = HYPERVISOR_set_timer_op(start > 1 ? start - 1 : 1);
    if (rc == 0)
        rc = sched_block();
    if (rc != 0)
        xtf_failure("Fail: block with a past deadline returned %ld\n", rc);
    else if (now_ns() - start > LATE_NS)
        xtf_failure("Fail: a past deadline took %lu us to fire\n", (now_ns() - start) / NS_PER_US);
}

// What set_timer_op raises before it returns: a deadline already passed fires at once (the event
// is pending when the hypercall returns), a future one and a cancel raise nothing, and a timer
// fires once: it is disarmed when it fires, so no later tick raises it again.
static void check_what_fires_at_once(evtchn_port_t port)
{
    timer_ack();
    xtf_check_eq(HYPERVISOR_set_timer_op(0), 0);
    if (evtchn_port_pending(port))
        xtf_failure("Fail: cancelling the timer raised VIRQ_TIMER\n");
    uint64_t start = now_ns();
    xtf_check_eq(HYPERVISOR_set_timer_op(start + 10 * NS_PER_SEC), 0);
    if (evtchn_port_pending(port))
        xtf_failure("Fail: a deadline 10 s away raised VIRQ_TIMER at once\n");
    xtf_check_eq(HYPERVISOR_set_timer_op(start > 1 ? start - 1 : 1), 0); // replaces the far one
    if (!evtchn_port_pending(port))
        xtf_failure("Fail: a deadline already passed did not raise VIRQ_TIMER at once\n");
    timer_ack();
    // Ticks come and go (the timer interrupt runs while this spins): nothing may fire again.
    while (now_ns() - start < 30 * NS_PER_MS)
        ;
    if (evtchn_port_pending(port))
        xtf_failure("Fail: a timer that fired at once fired again at a later tick\n");
    printf("timer: a cancel and a far deadline raise nothing, a past one fires once at once\n");
}

// A timer the tick fires (timer_fire, not set_timer_op) fires once too; and a poll's timeout, which
// the same tick ends, raises no VIRQ_TIMER when no timer is armed. One block and one poll, no loop
// that would hide an extra event or an early return.
static void check_the_tick_fires_once(evtchn_port_t port)
{
    timer_ack();
    uint64_t start = now_ns(), deadline = start + 5 * NS_PER_MS;
    xtf_check_eq(HYPERVISOR_set_timer_op(deadline), 0);
    xtf_check_eq(sched_block(), 0);
    if (now_ns() < deadline)
        xtf_failure("Fail: the block returned %lu us before its timer\n", (deadline - now_ns()) / NS_PER_US);
    timer_ack();
    while (now_ns() - deadline < 30 * NS_PER_MS)
        ;
    if (evtchn_port_pending(port))
        xtf_failure("Fail: a timer the tick fired fired again at a later tick\n");

    long other = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(other > 0, "alloc_unbound for the poll failed");
    evtchn_port_t ports[1] = {(evtchn_port_t)other};
    timer_ack();
    deadline = now_ns() + 10 * NS_PER_MS;
    xtf_check_eq(sched_poll(ports, 1, deadline), 0);
    if (now_ns() < deadline)
        xtf_failure("Fail: the poll returned %lu us before its timeout\n", (deadline - now_ns()) / NS_PER_US);
    if (evtchn_port_pending(port))
        xtf_failure("Fail: a poll's timeout raised VIRQ_TIMER, with no timer armed\n");
    // A poll without a timeout sleeps until an event of this domain: here the timer's, 20 ms on.
    // (Under sched=partition every tick looks at every vCPU's poll: none may end it but an event.)
    deadline = now_ns() + 20 * NS_PER_MS;
    xtf_check_eq(HYPERVISOR_set_timer_op(deadline), 0);
    xtf_check_eq(sched_poll(ports, 1, 0), 0);
    if (now_ns() < deadline)
        xtf_failure("Fail: a poll without a timeout returned %lu us before the only event\n",
                    (deadline - now_ns()) / NS_PER_US);
    timer_ack();
    xtf_check_eq(evtchn_close((evtchn_port_t)other), 0);
    printf("timer: a tick's timer fires once, a poll's timeout raises no timer event\n");
}

// at=MS: one wait until MS ms of system time, by a timer and a block (how=timer) or by a poll's
// timeout (how=poll), then the lateness printed. Several such domains on one CPU arm, in the
// order they start, entries of that CPU's timer list (tests/scenarios/timer_order.toml): after
// the first of them fires, the next due must still be found, whichever place it has in the list.
static void wait_at(uint64_t at_ms, evtchn_port_t port)
{
    char how[8] = "timer";
    cmdline_get("how", how, sizeof(how));
    bool poll = !strcmp(how, "poll");
    uint64_t deadline = at_ms * NS_PER_MS;
    xtf_assert(now_ns() < deadline, "started at %lu us, after the deadline", now_ns() / NS_PER_US);
    timer_ack();
    if (poll) {
        long other = evtchn_alloc_unbound(DOMID_SELF);
        xtf_assert(other > 0, "alloc_unbound for the poll failed");
        evtchn_port_t ports[1] = {(evtchn_port_t)other};
        xtf_check_eq(sched_poll(ports, 1, deadline), 0);
    } else {
        xtf_check_eq(HYPERVISOR_set_timer_op(deadline), 0);
        xtf_check_eq(sched_block(), 0);
        if (!evtchn_port_pending(port))
            xtf_failure("Fail: the block returned without the timer's event\n");
    }
    uint64_t woke = now_ns();
    if (woke < deadline)
        xtf_failure("Fail: %s woke %lu us before its deadline\n", how, (deadline - woke) / NS_PER_US);
    else
        printf("at %lu ms by %s: woke %lu us late\n", (unsigned long)at_ms, how, (woke - deadline) / NS_PER_US);
}

// down=1 (a domain of 2 vCPUs): vCPU 1 binds its own VIRQ_TIMER, arms its timer 10 ms on and goes
// down. A down vCPU's timer waits for it to come up again (sched_vcpu_up arms it anew): its event
// must not come while it is down, under sched=partition (whose tick looks at every vCPU) too.
static evtchn_port_t down_port;
static uint64_t down_deadline;

static void arm_and_go_down(unsigned id)
{
    long port = evtchn_bind_virq(VIRQ_TIMER, id);
    if (port <= 0) {
        xtf_failure("Fail: binding vCPU %u's VIRQ_TIMER returned %ld\n", id, port);
        return;
    }
    evtchn_port_mask((evtchn_port_t)port); // its event raises no upcall
    uint64_t deadline = now_ns() + 10 * NS_PER_MS;
    long rc = HYPERVISOR_set_timer_op(deadline);
    if (rc)
        xtf_failure("Fail: vCPU %u's set_timer_op returned %ld\n", id, rc);
    __atomic_store_n(&down_deadline, deadline, __ATOMIC_SEQ_CST);
    __atomic_store_n(&down_port, (evtchn_port_t)port, __ATOMIC_RELEASE);
} // returning brings vCPU 1 down (vcpu_start)

static void check_a_down_vcpus_timer(void)
{
    uint64_t start = now_ns();
    xtf_assert(vcpu_start(1, arm_and_go_down) == 0, "vcpu_start(1) failed");
    while (!__atomic_load_n(&down_port, __ATOMIC_ACQUIRE) || vcpu_is_up(1) == 1)
        xtf_assert(now_ns() - start < NS_PER_SEC, "vCPU 1 did not arm its timer and go down within 1 s");
    uint64_t deadline = __atomic_load_n(&down_deadline, __ATOMIC_SEQ_CST);
    while (now_ns() < deadline + 30 * NS_PER_MS)
        ;
    if (evtchn_port_pending(down_port))
        xtf_failure("Fail: a down vCPU's timer fired while it was down\n");
    else
        printf("timer: a down vCPU's timer raises nothing while it is down\n");
}

// poller=1 (a domain of 2 vCPUs): a poll that ended leaves no poller behind. Only a poller wakes
// on an event of a masked port (d->poll_mask, whose bit stop_polling clears), so a later
// SCHEDOP_block of the same vCPU must sleep through such events. vCPU 0 polls its masked
// VIRQ_TIMER port until its timer fires, then blocks with its timer armed 5 ms on (the port still
// masked); vCPU 1 sends on an unmasked IPI port of vCPU 0 30 ms on, the block's only wake-up.
static evtchn_port_t ipi_port;
static uint64_t ipi_at;

static void send_at(unsigned id)
{
    (void)id;
    while (now_ns() < __atomic_load_n(&ipi_at, __ATOMIC_ACQUIRE))
        ;
    long rc = evtchn_send(ipi_port);
    if (rc)
        xtf_failure("Fail: vCPU 1's send returned %ld\n", rc);
}

static void check_a_finished_poll_leaves_no_poller(evtchn_port_t timer)
{
    long ipi = evtchn_bind_ipi(0);
    xtf_assert(ipi > 0, "bind_ipi(0) returned %ld", ipi);
    ipi_port = (evtchn_port_t)ipi;
    evtchn_port_mask(timer);
    timer_ack();
    uint64_t t0 = now_ns();
    xtf_check_eq(HYPERVISOR_set_timer_op(t0 + NS_PER_MS), 0);
    xtf_check_eq(sched_poll(&timer, 1, t0 + 20000ULL * NS_PER_MS), 0);
    if (!evtchn_port_pending(timer))
        xtf_failure("Fail: the poll ended without the timer's event\n");
    evtchn_port_clear(timer);
    uint64_t start = now_ns(), at = start + 30 * NS_PER_MS;
    __atomic_store_n(&ipi_at, at, __ATOMIC_RELEASE);
    xtf_assert(vcpu_start(1, send_at) == 0, "vcpu_start(1) failed");
    xtf_check_eq(HYPERVISOR_set_timer_op(start + 5 * NS_PER_MS), 0);
    xtf_check_eq(sched_block(), 0);
    uint64_t woke = now_ns();
    if (woke < at)
        xtf_failure("Fail: a block after a poll ended %lu us before its only unmasked event (masked port pending: %d)\n",
                    (unsigned long)((at - woke) / NS_PER_US), evtchn_port_pending(timer));
    else if (!evtchn_port_pending(timer))
        xtf_failure("Fail: the masked port's timer event never came\n");
    else
        printf("timer: a finished poll leaves no poller: a block slept through a masked port's event\n");
}

void test_main(void)
{
    unsigned long rounds = cmdline_ulong("rounds", 5);

    long port = timer_bind();
    xtf_assert(port > 0, "binding VIRQ_TIMER failed");
    if (cmdline_ulong("poller", 0)) {
        check_a_finished_poll_leaves_no_poller((evtchn_port_t)port);
        xtf_success(NULL);
        return;
    }
    if (cmdline_ulong("down", 0)) {
        check_a_down_vcpus_timer();
        xtf_success(NULL);
        return;
    }
    unsigned long at_ms = cmdline_ulong("at", 0);
    if (at_ms) {
        wait_at(at_ms, (evtchn_port_t)port);
        xtf_success(NULL);
        return;
    }
    check_monotonic();
    xtf_check_eq(sched_yield(), 0);
    for (unsigned long i = 0; i < rounds; i++)
        check_sleep((i + 1) * 10 * NS_PER_MS);
    check_replace_and_cancel();
    check_past_deadline();
    check_what_fires_at_once((evtchn_port_t)port);
    check_the_tick_fires_once((evtchn_port_t)port);
    printf("timer done at %lu us\n", now_ns() / NS_PER_US);
    xtf_success(NULL);
}
