// SPDX-License-Identifier: MIT
// The hypervisor's own page tables. The image is mapped page by page with the permissions its
// sections need (text: read+execute; rodata: read; data and bss: read+write, never execute), the
// stack guard pages are left out, and all of RAM is mapped once more, non-executable, at
// DIRECTMAP_BASE. Nothing is user-accessible; the low identity map of boot is dropped.
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/paging.h>
#include <moat/shutdown.h>
#include <moat/x86.h>

extern char _text_start[], _text_end[], _rodata_start[], _rodata_end[], _data_start[], _image_end[];

static uint64_t *pml4;

#define IDX(va, level) (((va) >> (12 + 9 * ((level)-1))) & 511)
#define TABLE_FLAGS (PTE_P | PTE_W) /* leaves decide the real permissions */

static uint64_t *table_of(uint64_t entry) { return phys_to_virt(entry & PTE_ADDR_MASK); }

/* The table at `level` - 1 under entry slot, allocated when missing; NULL when memory is exhausted. */
static uint64_t *next_table(uint64_t *table, unsigned slot)
{
    if (!(table[slot] & PTE_P)) {
        mfn_t mfn = frame_alloc(FRAME_PAGETABLE, DOMID_HV);
        if (mfn == INVALID_MFN)
            return NULL;
        table[slot] = (mfn << PAGE_SHIFT) | TABLE_FLAGS;
    }
    BUG_ON(table[slot] & PTE_PS);
    return table_of(table[slot]);
}

static bool map_at_level(vaddr_t va, paddr_t pa, uint64_t flags, int leaf_level)
{
    uint64_t *t = pml4;
    flags = paging_leaf_flags(flags);
    for (int level = 4; level > leaf_level; level--) {
        t = next_table(t, IDX(va, level));
        if (!t)
            return false;
    }
    t[IDX(va, leaf_level)] = pa | flags | PTE_P | (leaf_level > 1 ? PTE_PS : 0);
    return true;
}

bool paging_map_page(vaddr_t va, paddr_t pa, uint64_t flags)
{
    if (!map_at_level(va, pa, flags, 1))
        return false;
    invlpg(va);
    return true;
}

uint64_t paging_lookup(vaddr_t va, int *level)
{
    uint64_t *t = pml4;
    for (int l = 4; l >= 1; l--) {
        uint64_t e = t[IDX(va, l)];
        if (!(e & PTE_P))
            return 0;
        if (l == 1 || (e & PTE_PS)) {
            if (level)
                *level = l;
            return e;
        }
        t = table_of(e);
    }
    return 0;
}

static void map_image_range(const char *start, const char *end, uint64_t flags)
{
    for (vaddr_t va = (vaddr_t)start; va < (vaddr_t)end; va += PAGE_SIZE) {
        if (is_guard_page(va))
            continue;
        if (!map_at_level(va, va - KERNEL_VBASE, flags, 1))
            panic("out of memory building the hypervisor page tables");
    }
}

void paging_init(paddr_t ram_end)
{
    mfn_t root = frame_alloc(FRAME_PAGETABLE, DOMID_HV);
    if (root == INVALID_MFN)
        panic("out of memory building the hypervisor page tables");
    pml4 = mfn_to_virt(root);

    uint64_t g = cpu_features.pge ? PTE_G : 0;
    uint64_t nx = cpu_features.nx ? PTE_NX : 0;
    map_image_range(_text_start, _text_end, g);                     /* read + execute */
    map_image_range(_rodata_start, _rodata_end, g | nx);            /* read */
    map_image_range(_data_start, _image_end, g | nx | PTE_W);       /* read + write */

    const uint64_t big = 2ULL << 20;
    for (paddr_t pa = 0; pa < ALIGN_UP(ram_end, big); pa += big)
        if (!map_at_level(DIRECTMAP_BASE + pa, pa, g | nx | PTE_W, 2))
            panic("out of memory building the direct map");

    /* The vmap region's top-level table exists from the start: guests copy the upper half once. */
    if (!next_table(pml4, IDX(VMAP_BASE, 4)))
        panic("out of memory building the hypervisor page tables");

    write_cr3(root << PAGE_SHIFT);
}

paddr_t paging_root(void) { return virt_to_phys(pml4); }

/* Unmaps one hypervisor page; returns the frame it mapped, or INVALID_MFN. */
static mfn_t paging_unmap_page(vaddr_t va)
{
    uint64_t *t = pml4;
    for (int level = 4; level > 1; level--) {
        uint64_t e = t[IDX(va, level)];
        if (!(e & PTE_P) || (e & PTE_PS))
            return INVALID_MFN;
        t = phys_to_virt(e & PTE_ADDR_MASK);
    }
    uint64_t e = t[IDX(va, 1)];
    t[IDX(va, 1)] = 0;
    invlpg(va);
    return (e & PTE_P) ? (e & PTE_ADDR_MASK) >> PAGE_SHIFT : INVALID_MFN;
}

void *vmap_slot(unsigned slot, size_t pages)
{
    vaddr_t base = VMAP_BASE + (vaddr_t)slot * VMAP_SLOT_SIZE;
    if (slot >= VMAP_SLOTS || pages > VMAP_SLOT_SIZE / PAGE_SIZE)
        return NULL;
    for (size_t i = 0; i < pages; i++) {
        mfn_t m = frame_alloc(FRAME_HV, DOMID_HV);
        if (m == INVALID_MFN || !paging_map_page(base + i * PAGE_SIZE, m << PAGE_SHIFT, PTE_W | PTE_NX)) {
            if (m != INVALID_MFN)
                frame_free(m);
            vunmap_slot(slot, i);
            return NULL;
        }
    }
    return (void *)base;
}

void vunmap_slot(unsigned slot, size_t pages)
{
    vaddr_t base = VMAP_BASE + (vaddr_t)slot * VMAP_SLOT_SIZE;
    for (size_t i = 0; i < pages; i++) {
        mfn_t m = paging_unmap_page(base + i * PAGE_SIZE);
        if (m != INVALID_MFN)
            frame_free(m);
    }
}

/* Counts 4 KiB-page equivalents reachable with both write and execute permission. */
static uint64_t count_wx(const uint64_t *t, int level, bool w, bool x)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!(e & PTE_P))
            continue;
        bool ew = w && (e & PTE_W), ex = x && !(e & PTE_NX);
        if (level == 1 || (e & PTE_PS)) {
            if (ew && ex)
                n += 1ULL << (9 * (level - 1));
        } else {
            n += count_wx(table_of(e), level - 1, ew, ex);
        }
    }
    return n;
}

uint64_t paging_count_wx(void) { return count_wx(pml4, 4, true, true); }
