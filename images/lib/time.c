// SPDX-License-Identifier: MIT
// System time from the shared-info page (Xen's pvclock) and timer-based sleeping.
#include <moat/guest.h>

uint64_t now_ns(void)
{
    const volatile struct vcpu_time_info *t = &shared_info->vcpu_info[0].time;
    uint32_t version, mul;
    uint64_t stamp, system, delta;
    int8_t shift;

    // The hypervisor makes version odd while it updates the record; retry until we read a
    // stable, even version on both sides of the reads.
    do {
        version = t->version;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        stamp = t->tsc_timestamp;
        system = t->system_time;
        mul = t->tsc_to_system_mul;
        shift = t->tsc_shift;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
    } while ((version & 1) || version != t->version);

    delta = rdtsc() - stamp;
    if (shift >= 0)
        delta <<= shift;
    else
        delta >>= -shift;
    // 64x32 -> 96-bit product; the compiler does this with one mul, no helper call.
    return system + (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

// As in Xen, the timer raises VIRQ_TIMER: unless it is bound to a port, nothing wakes a block.
static evtchn_port_t timer_port;

long timer_bind(void)
{
    if (!timer_port) {
        struct evtchn_bind_virq bind = { .virq = VIRQ_TIMER, .vcpu = 0 };
        long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bind);
        if (rc < 0)
            return rc;
        timer_port = bind.port;
    }
    return timer_port;
}

void timer_ack(void)
{
    struct vcpu_info *vi = &shared_info->vcpu_info[0];
    unsigned long word = timer_port / 64, bit = 1UL << (timer_port % 64);

    // Xen's order: the upcall flag, then the selector, then the port. A timer firing in between
    // may then not raise the flag again, but its deadline has passed and the caller re-checks
    // the time after acknowledging.
    __atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
    __atomic_fetch_and(&vi->evtchn_pending_sel, ~(1UL << word), __ATOMIC_SEQ_CST);
    __atomic_fetch_and(&shared_info->evtchn_pending[word], ~bit, __ATOMIC_SEQ_CST);
}

long sleep_until(uint64_t deadline_ns)
{
    long rc = timer_bind();
    if (rc < 0)
        return rc;
    for (;;) {
        // Re-armed every round: the hypervisor's clock and this pvclock reading may differ by a
        // hair, and a timer that fired "early" by our reading would otherwise leave us blocked.
        rc = HYPERVISOR_set_timer_op(deadline_ns);
        if (rc < 0)
            return rc;
        timer_ack();
        if (now_ns() >= deadline_ns)
            return 0;
        rc = sched_block();
        if (rc < 0)
            return rc;
    }
}

long sleep_ns(uint64_t ns)
{
    return sleep_until(now_ns() + ns);
}
