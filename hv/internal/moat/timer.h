/* SPDX-License-Identifier: MIT */
/* Time: the local APIC timer (the tick), the TSC (the clock), both calibrated against the PIT. */
#ifndef MOAT_TIMER_H
#define MOAT_TIMER_H

#include <moat/types.h>

/* Measures the APIC timer and TSC rates against the PIT; starts the periodic tick (interrupts still off). */
void timer_init(void);
/* An AP: starts its periodic tick with the boot CPU's calibration. */
void timer_start_cpu(void);
/* Several CPUs are online: each tick lets an emulator that runs them in turn move to the next. */
void timer_share_cpus(void);
uint64_t timer_ticks(void);
uint64_t tsc_khz(void);
/* System time: nanoseconds since timer_init, from the TSC, by the same formula guests use. */
uint64_t now_ns(void);
struct shared_info;
/* Writes the TSC-to-system-time parameters into a domain's shared-info page. */
void time_publish(struct shared_info *s);

#endif
