/* SPDX-License-Identifier: MIT */
/*
 * The local APIC of each CPU (xAPIC, memory-mapped at the same address on every CPU, each seeing
 * its own): enabling it, end of interrupt, and inter-processor interrupts.
 */
#ifndef MOAT_APIC_H
#define MOAT_APIC_H

/* Where firmware leaves every local APIC (MSR_APIC_BASE); boot.S maps it for the early timer
 * calibration, and timer.c uses that mapping only when the MSR says it is still there. */
#define LAPIC_DEFAULT_BASE 0xfee00000

#ifndef __ASSEMBLER__
#include <moat/types.h>

#define LAPIC_ID 0x020
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

uint32_t lapic_read(unsigned reg);
void lapic_write(unsigned reg, uint32_t v);

/* Boot CPU: maps the local APIC (at FIXMAP_BASE, uncached) and enables it. */
void lapic_init(void);
/* An AP: enables its own (the mapping is shared). */
void lapic_init_cpu(void);
void lapic_eoi(void);
uint32_t lapic_id(void); /* this CPU's APIC id */

/* IPIs. Each returns false if the APIC did not accept the previous one in time (not delivered). */
bool apic_send_ipi(uint32_t apic_id, uint8_t vector);
bool apic_send_ipi_allbutself(uint8_t vector);
bool apic_send_init(uint32_t apic_id);
bool apic_send_startup(uint32_t apic_id, uint8_t page); /* start at physical page << 12, real mode */

#endif /* __ASSEMBLER__ */

#endif
