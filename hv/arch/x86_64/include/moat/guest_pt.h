/* SPDX-License-Identifier: MIT */
/* Guest address spaces (arch/x86_64/guest_pt.c): each domain's page tables, built and owned by
 * the hypervisor, and every access to guest memory, which goes through them. */
#ifndef MOAT_GUEST_PT_H
#define MOAT_GUEST_PT_H

#include <moat/frame.h>
#include <moat/types.h>

struct domain;

bool gpt_create(struct domain *d);
/* Maps va to mfn with MAP_* attributes (moat/arch.h), user-accessible; false if out of memory. */
bool gpt_map(struct domain *d, vaddr_t va, mfn_t mfn, uint64_t flags);
/* Maps `pages` fresh zeroed frames of d's at va onwards; false if out of memory or over quota
 * (what was mapped stays: the domain's teardown returns it). */
bool gpt_populate(struct domain *d, vaddr_t va, size_t pages, uint64_t flags);
/* The leaf entry that maps va (pte_mfn, pte_writable in moat/arch.h), or 0 if unmapped. */
uint64_t gpt_lookup(struct domain *d, vaddr_t va);
bool gpt_unmap(struct domain *d, vaddr_t va); /* removes the leaf and flushes its TLB entry everywhere */
/* Flushes va of d's address space on every CPU that may cache it; returns when all have. */
void tlb_shootdown(struct domain *d, vaddr_t va);
extern uint64_t tlb_shootdowns;
void gpt_destroy(struct domain *d);

/* Guest memory access: checks the range is guest-accessible, then copies with fault recovery. */
long copy_from_guest(void *dst, uint64_t guest_src, size_t n);
long copy_to_guest(uint64_t guest_dst, const void *src, size_t n);
/* copy_from_guest of one 4-byte word as one checked load (a port number: EVTCHNOP_send). */
long copy_u32_from_guest(uint32_t *dst, uint64_t guest_src);
bool guest_range_ok(uint64_t va, size_t n);

#endif
