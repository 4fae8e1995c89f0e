/* SPDX-License-Identifier: MIT */
/*
 * The extended CPU state (x87, SSE, AVX) as this domain has it. Guests are built with the normal
 * x86-64 ABI, so compiled code uses the SSE registers; the hypervisor keeps each domain's
 * registers its own (it saves and restores them on every domain switch). Within a domain, an
 * event upcall interrupts code at any instruction: upcall_entry saves the whole state (XSAVE, or
 * FXSAVE where the hypervisor enables no XSAVE) before upcall_handler runs and restores it after,
 * so a handler may use any register.
 */
#ifndef MOAT_GUEST_XSTATE_H
#define MOAT_GUEST_XSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads what the CPU offers this domain (CPUID, XCR0); done by the start-up code. */
void xstate_init(void);
/* XCR0 as the hypervisor set it (xgetbv 0), or 0 when it uses FXSAVE (CR4.OSXSAVE off). */
uint64_t xstate_xcr0(void);
/* Whether the AVX registers (ymm) are enabled. */
bool xstate_have_avx(void);
/* Bytes of a save area for this domain's state (a multiple of 64). */
size_t xstate_area_size(void);
/* Saves/restores the whole state into/from area (64-byte aligned, xstate_area_size() bytes). */
void xstate_save(void *area);
void xstate_restore(const void *area);

/* For upcall_entry (upcall_entry.S, upcall_entry_form): the area size, and 1 for XSAVE, 0 for
 * FXSAVE. */
extern uint64_t upcall_xstate_size;
extern uint8_t upcall_xstate_xsave;

#endif
