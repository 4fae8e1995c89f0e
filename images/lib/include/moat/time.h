/* SPDX-License-Identifier: MIT */
/*
 * System time: nanoseconds since the hypervisor started, read from vcpu_info[0].time in the
 * shared-info page with Xen's pvclock formula (public/hv.h). The same clock set_timer_op takes.
 */
#ifndef MOAT_GUEST_TIME_H
#define MOAT_GUEST_TIME_H

#include <stdint.h>

#define NS_PER_US ((uint64_t)1000)
#define NS_PER_MS ((uint64_t)1000000)
#define NS_PER_SEC ((uint64_t)1000000000)

uint64_t now_ns(void);

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/*
 * The timer's event channel: set_timer_op raises VIRQ_TIMER, which wakes SCHEDOP_block only when
 * bound to a port (as in Xen). timer_bind binds it once and returns the port (or -errno);
 * timer_ack clears its pending state before the next block.
 */
long timer_bind(void);
void timer_ack(void);

/*
 * Sleeps until system time reaches deadline_ns with set_timer_op + SCHEDOP_block (the guest runs
 * nothing in between). Returns 0, or the failing hypercall's -errno.
 */
long sleep_until(uint64_t deadline_ns);
long sleep_ns(uint64_t ns);

#endif
