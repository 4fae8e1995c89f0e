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

long sleep_until(uint64_t deadline_ns)
{
    long rc = HYPERVISOR_set_timer_op(deadline_ns);
    if (rc < 0)
        return rc;
    while (now_ns() < deadline_ns) {
        // Clear the pending flag first: a timer that fires after this sets it again and makes
        // the block return at once instead of being lost.
        __atomic_store_n(&shared_info->vcpu_info[0].evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
        if (now_ns() >= deadline_ns)
            break;
        rc = sched_block();
        if (rc < 0)
            return rc;
    }
    return 0;
}

long sleep_ns(uint64_t ns)
{
    return sleep_until(now_ns() + ns);
}
