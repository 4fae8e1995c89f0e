/* SPDX-License-Identifier: MIT */
/* Time: the local APIC timer (the tick), the TSC (the clock), both calibrated against the PIT. */
#ifndef MOAT_TIMER_H
#define MOAT_TIMER_H

#include <moat/types.h>

void lapic_init(void);
void lapic_eoi(void);
/* Measures the APIC timer and TSC rates against the PIT; starts the periodic tick (interrupts still off). */
void timer_init(void);
uint64_t timer_ticks(void);
uint64_t tsc_khz(void);
/* Nanoseconds since timer_init, from the TSC. */
uint64_t now_ns(void);

#endif
