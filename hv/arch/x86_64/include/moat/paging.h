/* SPDX-License-Identifier: MIT */
/* 4-level page tables of the hypervisor's own address space. */
#ifndef MOAT_PAGING_H
#define MOAT_PAGING_H

#include <moat/cpu.h>
#include <moat/types.h>

#define PTE_P (1ULL << 0)
#define PTE_W (1ULL << 1)
#define PTE_U (1ULL << 2)
#define PTE_PWT (1ULL << 3)
#define PTE_PCD (1ULL << 4)
#define PTE_A (1ULL << 5)
#define PTE_D (1ULL << 6)
#define PTE_PS (1ULL << 7)
#define PTE_G (1ULL << 8)
#define PTE_NX (1ULL << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL

/* Builds the final hypervisor page tables (W^X image, NX direct map, guard pages) and switches to them. */
void paging_init(paddr_t ram_end);
/* flags without the bits this CPU lacks: on a CPU without NX, bit 63 is reserved (EFER.NXE cannot be
 * set), and any access through an entry that has it faults. Every leaf written goes through this. */
static inline uint64_t paging_leaf_flags(uint64_t flags) { return cpu_features.nx ? flags : flags & ~PTE_NX; }
/* Maps one 4 KiB page into the hypervisor half; returns false if a table could not be allocated. */
bool paging_map_page(vaddr_t va, paddr_t pa, uint64_t flags);
/* The leaf entry that maps va (and its level: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB), or 0 if unmapped. */
uint64_t paging_lookup(vaddr_t va, int *level);
/* Walks every mapping and counts pages that are both writable and executable (must be 0). */
uint64_t paging_count_wx(void);
paddr_t paging_root(void);

/* Virtually contiguous hypervisor buffers made of separate frames (policies loaded at run time). */
#define VMAP_BASE 0xffffc00000000000ULL
#define VMAP_SLOT_SIZE (64ULL << 20)
#define VMAP_SLOTS 4
/* The APs' stacks (smp.c), in the same top-level slot as the vmap region, after it. */
#define AP_STACKS_BASE (VMAP_BASE + (1ULL << 30))
_Static_assert(VMAP_SLOTS * VMAP_SLOT_SIZE <= (1ULL << 30), "vmap slots overlap the AP stacks");
void *vmap_slot(unsigned slot, size_t pages); /* NULL if out of memory (nothing left mapped) */
void vunmap_slot(unsigned slot, size_t pages);

#endif
