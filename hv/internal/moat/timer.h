/* SPDX-License-Identifier: MIT */
/* Time: the local APIC timer (the tick), the TSC (the clock), the TSC calibrated against the PIT (or read from CPUID), the APIC timer against the TSC. */
#ifndef MOAT_TIMER_H
#define MOAT_TIMER_H

#include <moat/types.h>

/* Opens the windows the TSC's rate (against the PIT, when CPUID does not state it) and the APIC
 * timer's (against the TSC) are measured over, as early in the boot as possible and before
 * paging_init: the work until timer_init runs while they are open, instead of a busy wait. It
 * touches no memory the measured launch hashes (only zero-initialised data). */
void timer_calibration_start(void);
/* Closes those windows (opening them now if they were not) for both rates; starts the periodic
 * tick (interrupts still off). */
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
