// SPDX-License-Identifier: MIT
// The local APIC: each CPU has its own at the same physical address, mapped once (FIXMAP_BASE,
// uncached) in the upper half every CPU shares. IPIs go through the interrupt command register
// (ICR): the high half names the destination, writing the low half sends.
#include <moat/apic.h>
#include <moat/config.h>
#include <moat/cpu.h>
#include <moat/paging.h>
#include <moat/shutdown.h>
#include <moat/x86.h>

#define LAPIC_VA FIXMAP_BASE
#define LVT_MASKED (1u << 16)

#define ICR_FIXED (0u << 8)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_PENDING (1u << 12) /* delivery status: the previous IPI is still being sent */
#define ICR_ASSERT (1u << 14)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_SPIN_LIMIT 1000000u

uint32_t lapic_read(unsigned reg) { return *(volatile uint32_t *)(LAPIC_VA + reg); }
void lapic_write(unsigned reg, uint32_t v) { *(volatile uint32_t *)(LAPIC_VA + reg) = v; }

void lapic_init(void)
{
    paddr_t base = rdmsr(MSR_APIC_BASE) & 0xffffff000ULL;
    if (!paging_map_page(LAPIC_VA, base, PTE_W | PTE_PCD | PTE_PWT | PTE_NX))
        panic("cannot map the local APIC");
    lapic_init_cpu();
}

void lapic_init_cpu(void)
{
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11)); /* globally enabled */
    lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
}

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

/*
 * Writes one command. The caller has interrupts off (the hypervisor always does outside the idle
 * loop), so no handler can send its own IPI between the two halves.
 */
static bool icr_send(uint32_t apic_id, uint32_t low)
{
    for (unsigned spins = 0; lapic_read(LAPIC_ICR_LOW) & ICR_PENDING; spins++) {
        if (spins > ICR_SPIN_LIMIT)
            return false;
        cpu_relax();
    }
    lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
    lapic_write(LAPIC_ICR_LOW, low);
    return true;
}

bool apic_send_ipi(uint32_t apic_id, uint8_t vector) { return icr_send(apic_id, ICR_FIXED | ICR_ASSERT | vector); }

bool apic_send_ipi_allbutself(uint8_t vector) { return icr_send(0, ICR_ALL_BUT_SELF | ICR_FIXED | ICR_ASSERT | vector); }

/* INIT (edge, assert): integrated APICs need no de-assert message (that was for the 82489DX). */
bool apic_send_init(uint32_t apic_id) { return icr_send(apic_id, ICR_INIT | ICR_ASSERT); }

bool apic_send_startup(uint32_t apic_id, uint8_t page) { return icr_send(apic_id, ICR_STARTUP | ICR_ASSERT | page); }
