// SPDX-License-Identifier: MIT
// Guest page tables. The hypervisor builds and owns them; the lower half holds the guest's
// mappings (user-accessible), the upper half is the hypervisor's, shared with every address space
// and supervisor-only. Every table frame is owned by the domain, so it is counted and given back.
#include <moat/arch.h>
#include <moat/domain.h>
#include <moat/guest_tlb.h>
#include <moat/hvlock.h>
#include <moat/lib.h>
#include <moat/paging.h>
#include <moat/quota.h>
#include <moat/shutdown.h>
#include <moat/smp.h>
#include <moat/x86.h>

/* get_u32_from_guest's limit (moat/guest_pt.h): in memory, so that the compare takes it from there. */
const uint64_t guest_u32_last = GUEST_VA_LIMIT - sizeof(uint32_t) - 1;

#define IDX(va, level) (((va) >> (12 + 9 * ((level)-1))) & 511)
#define USER_TABLE_FLAGS (PTE_P | PTE_W | PTE_U) /* the leaves decide write and execute */

uint64_t tlb_shootdowns; /* IPIs sent to flush another CPU's TLB */

static uint64_t *table_of(uint64_t e) { return phys_to_virt(e & PTE_ADDR_MASK); }

bool gpt_create(struct domain *d)
{
    mfn_t root = frame_alloc_for(FRAME_PAGETABLE, d);
    if (root == INVALID_MFN)
        return false;
    d->frames_held++;
    d->pml4 = root;
    d->pml4_addr = root << PAGE_SHIFT;
    uint64_t *pml4 = mfn_to_virt(root);
    const uint64_t *hv = phys_to_virt(paging_root());
    /* The hypervisor's half, as its own tables have it: one string copy (2 KiB), not 256 moves. */
    memcpy(&pml4[256], &hv[256], 256 * sizeof(pml4[0]));
    return true;
}

/* The leaf entry for va, with the tables above it made as needed; NULL if out of memory. */
static uint64_t *leaf_entry(struct domain *d, vaddr_t va)
{
    BUG_ON(va >= GUEST_VA_LIMIT);
    uint64_t *t = mfn_to_virt(d->pml4);
    for (int level = 4; level > 1; level--) {
        uint64_t *e = &t[IDX(va, level)];
        if (!(*e & PTE_P)) {
            mfn_t m = frame_alloc_for(FRAME_PAGETABLE, d);
            if (m == INVALID_MFN)
                return NULL;
            d->frames_held++;
            *e = (m << PAGE_SHIFT) | USER_TABLE_FLAGS;
        }
        t = table_of(*e);
    }
    return &t[IDX(va, 1)];
}

bool gpt_map(struct domain *d, vaddr_t va, mfn_t mfn, uint64_t flags)
{
    uint64_t *e = leaf_entry(d, va);
    if (!e)
        return false;
    *e = gpt_leaf_entry(mfn, flags);
    return true;
}

/*
 * A run of fresh pages, as domain creation populates a domain's RAM: one walk per leaf table
 * instead of one per page (a 1 MiB domain has 256 pages and one leaf table), and the frames of
 * each leaf table's part taken from the allocator at once, straight into the leaves. The leaves
 * are new, so no TLB holds them. The pages' quota is taken at once, and what a failure leaves
 * untaken given back; a frame already taken stays mapped: the domain's teardown gives back all it
 * holds (a refused run itself takes nothing).
 */
bool gpt_populate(struct domain *d, vaddr_t va, size_t pages, uint64_t flags)
{
    if (pages > UINT32_MAX || !quota_take(d, QUOTA_FRAMES, (uint32_t)pages))
        return false;
    uint64_t bits = gpt_leaf_entry(0, flags);
    for (size_t i = 0; i < pages;) {
        size_t n = MIN(pages - i, 512 - IDX(va, 1)); /* to the end of this leaf table */
        uint64_t *e = leaf_entry(d, va);
        if (!e || !frame_alloc_run(FRAME_GUEST, d, e, n, bits)) {
            quota_give(d, QUOTA_FRAMES, (uint32_t)(pages - i));
            return false;
        }
        d->frames_held += n;
        i += n;
        va += n * PAGE_SIZE;
    }
    return true;
}

bool gpt_unmap(struct domain *d, vaddr_t va)
{
    uint64_t *t = mfn_to_virt(d->pml4);
    for (int level = 4; level > 1; level--) {
        uint64_t e = t[IDX(va, level)];
        if (!(e & PTE_P))
            return false;
        t = table_of(e);
    }
    if (!(t[IDX(va, 1)] & PTE_P))
        return false;
    t[IDX(va, 1)] = 0;
    tlb_shootdown(d, va);
    return true;
}

struct shootdown {
    paddr_t pml4;
    vaddr_t va;
};

static void flush_here(void *arg)
{
    const struct shootdown *s = arg;
    if (this_cpu()->loaded_pml4 == s->pml4)
        invlpg(s->va);
}

/* tlb_shootdown's part on the other CPUs (moat/guest_tlb.h): with one CPU a flush never calls it. */
void tlb_shootdown_others(paddr_t root, vaddr_t va)
{
    struct shootdown s = {root, va};
    unsigned me = this_cpu()->id;
    for (unsigned i = 0; i < smp_cpus_listed(); i++)
        if (i != me && percpus[i].loaded_pml4 == s.pml4 && smp_cpu_online(i)) {
            if (!smp_call(i, flush_here, &s))
                panic("cpu %u did not answer a TLB shootdown", i);
            tlb_shootdowns++;
        }
}

/* The level-2 table of va's 1 GiB region, or NULL if it does not exist yet. */
static uint64_t *directory(struct domain *d, vaddr_t va)
{
    uint64_t *t = mfn_to_virt(d->pml4);
    for (int level = 4; level > 2; level--) {
        uint64_t e = t[IDX(va, level)];
        if (!(e & PTE_P))
            return NULL;
        t = table_of(e);
    }
    return t;
}

/* Every entry absent (.bss, never written): a *dir that holds it finds no leaf table there. */
uint64_t gpt_dir_unknown[GPT_LEAVES];

/* *dir set to va's directory if it was not known and now exists. */
static void learn_directory(struct domain *d, uint64_t **dir, vaddr_t va)
{
    if (*dir == gpt_dir_unknown) {
        uint64_t *found = directory(d, va);
        if (found)
            *dir = found;
    }
}

uint64_t *gpt_leaf_slow(struct domain *d, uint64_t **dir, vaddr_t va, bool make)
{
    BUG_ON(va >= GUEST_VA_LIMIT);
    learn_directory(d, dir, va);
    uint64_t e = (*dir)[IDX(va, 2)]; /* gpt_dir_unknown's: absent */
    if (e & PTE_P)
        return &table_of(e)[IDX(va, 1)];
    if (!make)
        return NULL;
    uint64_t *leaf = leaf_entry(d, va); /* makes the missing tables (rare: once per 2 MiB) */
    if (leaf)
        learn_directory(d, dir, va);
    return leaf;
}

/* The leaf entry's slot for va when the tables above it exist (the entry itself may be empty). */
static uint64_t *existing_leaf(struct domain *d, vaddr_t va)
{
    if (va >= GUEST_VA_LIMIT)
        return NULL;
    uint64_t *t = mfn_to_virt(d->pml4);
    for (int level = 4; level > 1; level--) {
        uint64_t e = t[IDX(va, level)];
        if (!(e & PTE_P))
            return NULL;
        t = table_of(e);
    }
    return &t[IDX(va, 1)];
}

uint64_t gpt_lookup(struct domain *d, vaddr_t va)
{
    const uint64_t *e = existing_leaf(d, va);
    return e ? *e : 0;
}

mfn_t gpt_protect_new(struct domain *d, vaddr_t va, uint64_t flags)
{
    uint64_t *e = existing_leaf(d, va);
    if (!e || !(*e & PTE_P))
        return INVALID_MFN;
    mfn_t m = pte_mfn(*e);
    *e = gpt_leaf_entry(m, flags);
    return m;
}

/* Frees the leaves the domain owns (its RAM and info pages) and every table below `t`. */
static void free_level(struct domain *d, uint64_t *t, int level)
{
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!(e & PTE_P))
            continue;
        mfn_t mfn = (e & PTE_ADDR_MASK) >> PAGE_SHIFT;
        if (level > 1)
            free_level(d, table_of(e), level - 1);
        struct frame *f = frame_info(mfn);
        /* Only frames this domain owns go back; another domain's pages mapped here are not ours. */
        if (f && f->owner == d->domid && (f->use == FRAME_GUEST || f->use == FRAME_PAGETABLE)) {
            frame_release_owned(mfn); /* a page still mapped by a grantee lives on until unmapped */
            d->frames_held--;
        }
        t[i] = 0;
    }
}

void gpt_destroy(struct domain *d)
{
    if (d->pml4 == INVALID_MFN || !d->pml4)
        return;
    /* Never free the tables a CPU is using (sched_remove has had the others drop them). */
    if (this_cpu()->loaded_pml4 == d->pml4_addr || (read_cr3() & PTE_ADDR_MASK) == d->pml4_addr) {
        write_cr3(paging_root());
        this_cpu()->loaded_pml4 = 0;
    }
    uint64_t *pml4 = mfn_to_virt(d->pml4);
    for (unsigned i = 0; i < 256; i++) {
        if (!(pml4[i] & PTE_P))
            continue;
        free_level(d, table_of(pml4[i]), 3);
        mfn_t m = (pml4[i] & PTE_ADDR_MASK) >> PAGE_SHIFT;
        frame_free(m);
        d->frames_held--;
        pml4[i] = 0;
    }
    frame_free(d->pml4);
    d->frames_held--;
    d->pml4 = INVALID_MFN;
    d->pml4_addr = INVALID_PADDR;
}

bool guest_range_ok(uint64_t va, size_t n)
{
    /* Inside the guest half, no wrap-around, bounded length (copies are never larger than this). */
    return n <= (1u << 20) && va < GUEST_VA_LIMIT && va + n <= GUEST_VA_LIMIT && va + n >= va;
}

long copy_from_guest(void *dst, uint64_t guest_src, size_t n)
{
    if (!guest_range_ok(guest_src, n) || guest_src == 0)
        return -XEN_EFAULT;
    return copy_user(dst, (const void *)guest_src, n);
}

long copy_to_guest(uint64_t guest_dst, const void *src, size_t n)
{
    if (!guest_range_ok(guest_dst, n) || guest_dst == 0)
        return -XEN_EFAULT;
    return copy_user((void *)guest_dst, src, n);
}
