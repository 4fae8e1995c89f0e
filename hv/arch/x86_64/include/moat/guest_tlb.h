/* SPDX-License-Identifier: MIT */
/*
 * Taking a guest translation away (arch/x86_64/guest_pt.c has the other CPUs' half): a leaf
 * cleared, then its address flushed from every TLB that may hold it before the caller drops the
 * frame's reference. Inline, where a grant unmap and a revocation take a mapping down: with one
 * CPU running guests the flush is a compare and an invlpg, and a call would cost as much again.
 * Its own header because it reads the domain's page-table root, which moat/guest_pt.h (included
 * by moat/domain.h) cannot see.
 */
#ifndef MOAT_GUEST_TLB_H
#define MOAT_GUEST_TLB_H

#include <moat/cpu.h>
#include <moat/domain.h>
#include <moat/hvlock.h>
#include <moat/x86.h>

/* The shootdown's part on the other CPUs (IPIs to each one with root loaded), out of line. */
void tlb_shootdown_others(paddr_t root, vaddr_t va);

/*
 * Flushes va of d's address space on every CPU that may cache it; returns when all have. Without
 * PCID only a CPU with d's tables in CR3 can hold the translation: the one running d, or one that
 * ran it last and idles since (or waits for the hypervisor lock). Under the hypervisor lock, no
 * CPU loads or drops d's tables meanwhile.
 */
static inline void tlb_shootdown(struct domain *d, vaddr_t va)
{
    if (this_cpu()->loaded_pml4 == d->pml4_addr)
        invlpg(va);
    if (hv_lock_smp) /* else guests run on this CPU only */
        tlb_shootdown_others(d->pml4_addr, va);
}

/* Clears a leaf entry from gpt_leaf_via (d's, mapping va) and flushes va everywhere. */
static inline void gpt_clear_leaf(struct domain *d, uint64_t *leaf, vaddr_t va)
{
    *leaf = 0;
    tlb_shootdown(d, va);
}

#endif
