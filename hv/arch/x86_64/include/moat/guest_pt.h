/* SPDX-License-Identifier: MIT */
/* Guest address spaces (arch/x86_64/guest_pt.c): each domain's page tables, built and owned by
 * the hypervisor, and every access to guest memory, which goes through them. */
#ifndef MOAT_GUEST_PT_H
#define MOAT_GUEST_PT_H

#include <moat/frame.h>
#include <moat/paging.h>
#include <moat/shutdown.h>
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
/* The frame mapped at va, its leaf rewritten with MAP_* `flags`: the loader setting a page's
 * protections, one walk where a lookup and a gpt_map took two. INVALID_MFN if nothing is mapped
 * there. No TLB flush: only for a domain being built, which has never run. */
mfn_t gpt_protect_new(struct domain *d, vaddr_t va, uint64_t flags);
bool gpt_unmap(struct domain *d, vaddr_t va); /* removes the leaf and flushes its TLB entry everywhere */
/*
 * Leaves found through a remembered page directory (the level-2 table of va's 1 GiB-aligned
 * region: two loads instead of a four-level walk). *dir is the caller's memory of it:
 * GPT_DIR_UNKNOWN until the directory exists, then set here. Tables live until gpt_destroy, so the
 * caller may keep *dir for the domain's life and must drop it before then. Returns va's leaf
 * entry, its leaf table made if `make`; NULL if that table does not exist and !make, or if out of
 * memory. GPT_DIR_UNKNOWN is a directory with every entry absent, not NULL: the common case's
 * load of the entry finds it absent and goes the slow way, with no test of *dir first.
 */
extern uint64_t gpt_dir_unknown[];
#define GPT_DIR_UNKNOWN gpt_dir_unknown
#define GPT_DIR_SPAN (1ull << 30) /* what one page directory maps: 1 GiB */
#define GPT_LEAVES 512u          /* the leaf entries of one page table, each a page's */
uint64_t *gpt_leaf_slow(struct domain *d, uint64_t **dir, vaddr_t va, bool make);
/* va's leaf in the leaf table that directory entry `e` (present) points to. */
static inline uint64_t *gpt_dir_leaf(uint64_t e, vaddr_t va)
{
    return (uint64_t *)phys_to_virt(e & PTE_ADDR_MASK) + ((va >> PAGE_SHIFT) & 511);
}
static inline uint64_t *gpt_leaf_via(struct domain *d, uint64_t **dir, vaddr_t va, bool make)
{
    uint64_t e = (*dir)[(va >> 21) & 511]; /* the common case inline: the leaf table there */
    if (e & PTE_P)
        return gpt_dir_leaf(e, va);
    return gpt_leaf_slow(d, dir, va, make);
}
/* The value of va's leaf entry through *dir as gpt_leaf_via finds it, or 0 when there is no leaf
 * table: a lookup that only reads the leaf. Its own common case, which loads the leaf where it
 * finds it (through gpt_leaf_via, the way that found the leaf table tested its pointer again). */
static inline uint64_t gpt_leaf_value_via(struct domain *d, uint64_t **dir, vaddr_t va)
{
    uint64_t e = (*dir)[(va >> 21) & 511];
    if (e & PTE_P)
        return *gpt_dir_leaf(e, va);
    const uint64_t *leaf = gpt_leaf_slow(d, dir, va, false);
    return leaf ? *leaf : 0;
}
/* The frame of the page table that holds a leaf from gpt_leaf_via (tables are frames of the direct
 * map: no test of which mapping the address is in), and a leaf again from that frame and its
 * index: a caller that keeps the two finds the leaf again with no walk (tables live until
 * gpt_destroy). */
static inline mfn_t gpt_leaf_table(const uint64_t *leaf) { return ((vaddr_t)leaf - DIRECTMAP_BASE) >> PAGE_SHIFT; }
static inline uint64_t *gpt_leaf_in(mfn_t table, unsigned index)
{
    return (uint64_t *)mfn_to_virt(table) + index % GPT_LEAVES;
}
/* The leaf entry mapping mfn with MAP_* attributes, user-accessible: every guest leaf is this. */
static inline uint64_t gpt_leaf_entry(mfn_t mfn, uint64_t flags)
{
    return (mfn << PAGE_SHIFT) | paging_leaf_flags(flags) | PTE_P | PTE_U;
}
/* Sets a leaf entry from gpt_leaf_via, which must be clear (a new translation needs no TLB
 * flush), to map mfn with MAP_* attributes, user-accessible. Inline: a grant map's one store. */
static inline void gpt_set_leaf(uint64_t *leaf, mfn_t mfn, uint64_t flags)
{
    BUG_ON(*leaf & PTE_P);
    *leaf = gpt_leaf_entry(mfn, flags);
}
/* Clearing a leaf and flushing its TLB entries: moat/guest_tlb.h (gpt_clear_leaf). */
extern uint64_t tlb_shootdowns;
void gpt_destroy(struct domain *d);

/* Guest memory access: checks the range is guest-accessible, then copies with fault recovery. */
long copy_from_guest(void *dst, uint64_t guest_src, size_t n);
long copy_to_guest(uint64_t guest_dst, const void *src, size_t n);
bool guest_range_ok(uint64_t va, size_t n);

/*
 * copy_from_guest and copy_to_guest for a fixed-size element (a hypercall's struct: a multiple of
 * 8 bytes, a compile-time constant), inline: the same range (not 0, inside the guest half) in one
 * compare, then the words moved under SMAP as copy_user moves them (stac/clac only where the CPU
 * has SMAP; the way without it out of line), a fault on the move resuming at its fixup, which
 * closes the window and answers -XEN_EFAULT. Grant ops copy 3 or 4 words in and out per
 * element: the call, copy_from_guest's general checks and copy_user's size dispatch were most of
 * it. `volatile` although an asm goto is so already: GCC 12 drops an asm goto whose outputs are
 * all unused, and this one's effect is the memory it writes (without it the grant ops read
 * their stack garbage: tried).
 */
extern uint8_t smap_enabled;
/*
 * The guest access both accessors below make: `insn` between stac and clac where the CPU has SMAP
 * (smap_enabled), plain and out of line where it has not (no window to open). A fault on either
 * resumes at its fixup, which closes the window it opened and jumps to the asm goto's `fault`
 * label, named at each use; the way without a fault tests nothing after the access.
 */
#define GUEST_ACCESS_ASM(insn)                                                                                   \
    "testb $1, smap_enabled(%%rip)\n\t"                                                                          \
    "jz 2f\n\t"                                                                                                  \
    "stac\n"                                                                                                     \
    "1:\t" insn "\n\t"                                                                                           \
    "clac\n"                                                                                                     \
    "3:\n\t"                                                                                                     \
    ".pushsection .text.fixup, \"ax\"\n"                                                                         \
    "2:\t" insn "\n\t"                                                                                           \
    "jmp 3b\n"                                                                                                   \
    "4:\tclac\n\t"                                                                                               \
    "jmp %l[fault]\n"                                                                                            \
    "5:\tjmp %l[fault]\n\t"                                                                                       \
    ".popsection\n\t" FIXUP_ENTRY("1b", "4b") FIXUP_ENTRY("2b", "5b")

/* cppcheck-suppress constParameter ; the asm writes through dst (rep movsq), which cppcheck does not see */
static inline __attribute__((always_inline)) bool copy_words_user(void *dst, const void *src, size_t words)
{
    __asm__ volatile goto(GUEST_ACCESS_ASM("rep movsq")
                 : "+D"(dst), "+S"(src), "+c"(words)
                 :
                 : "memory", "cc"
                 : fault);
    return true;
/* cppcheck-suppress unusedLabel ; the asm goto's target (its fixups jump here), which cppcheck does not see */
fault:
    return false;
}

/*
 * One to four words moved as plain 8-byte moves through registers instead (elem_words_in and
 * elem_words_out below): a rep movs pays a start-up of its own on a real CPU, which four single
 * moves do not, and the words land in registers that the op reads from or its outputs come from,
 * with no count and pointers to set up. The same SMAP window and fixups as GUEST_ACCESS_ASM, with
 * a fixup entry for every move: MOVES(k) writes the moves labelled k0, k1, ... (k = 1 under SMAP,
 * 2 without it), FIXUPS their entries.
 */
#define ELEM_WORDS_ASM(MOVES, FIXUPS)                                                                           \
    "testb $1, smap_enabled(%%rip)\n\t"                                                                         \
    "jz 2f\n\t"                                                                                                 \
    "stac\n\t" MOVES(1) "clac\n"                                                                                 \
    "3:\n\t"                                                                                                    \
    ".pushsection .text.fixup, \"ax\"\n"                                                                        \
    "2:\t" MOVES(2) "jmp 3b\n"                                                                                   \
    "4:\tclac\n\t"                                                                                               \
    "jmp %l[fault]\n"                                                                                           \
    "5:\tjmp %l[fault]\n\t"                                                                                      \
    ".popsection\n\t" FIXUPS
#define ELEM_LOAD(k, i) #k #i ":\tmovq " #i "*8(%[src]), %[w" #i "]\n\t"
#define ELEM_STORE(k, i) #k #i ":\tmovq %[w" #i "], " #i "*8(%[dst])\n\t"
#define ELEM_FIXUP(i) FIXUP_ENTRY("1" #i "b", "4b") FIXUP_ENTRY("2" #i "b", "5b")
#define ELEM_LOADS1(k) ELEM_LOAD(k, 0)
#define ELEM_LOADS2(k) ELEM_LOADS1(k) ELEM_LOAD(k, 1)
#define ELEM_LOADS3(k) ELEM_LOADS2(k) ELEM_LOAD(k, 2)
#define ELEM_LOADS4(k) ELEM_LOADS3(k) ELEM_LOAD(k, 3)
#define ELEM_STORES1(k) ELEM_STORE(k, 0)
#define ELEM_STORES2(k) ELEM_STORES1(k) ELEM_STORE(k, 1)
#define ELEM_FIXUPS1 ELEM_FIXUP(0)
#define ELEM_FIXUPS2 ELEM_FIXUPS1 ELEM_FIXUP(1)
#define ELEM_FIXUPS3 ELEM_FIXUPS2 ELEM_FIXUP(2)
#define ELEM_FIXUPS4 ELEM_FIXUPS3 ELEM_FIXUP(3)

/* `words` words from guest memory at src into dst (src's range checked by the caller). */
static inline __attribute__((always_inline)) bool elem_words_in(void *dst, const void *src, size_t words)
{
    /* Scalars, not an array, as the outputs: GCC 12's early SRA crashes on asm goto outputs that
     * are array elements. */
    uint64_t w0, w1, w2, w3;
    switch (words) {
    case 1:
        __asm__ volatile goto(ELEM_WORDS_ASM(ELEM_LOADS1, ELEM_FIXUPS1) : [w0] "=&r"(w0) : [src] "r"(src) : "cc"
                              : fault);
        break;
    case 2:
        __asm__ volatile goto(ELEM_WORDS_ASM(ELEM_LOADS2, ELEM_FIXUPS2)
                              : [w0] "=&r"(w0), [w1] "=&r"(w1)
                              : [src] "r"(src)
                              : "cc"
                              : fault);
        break;
    case 3:
        __asm__ volatile goto(ELEM_WORDS_ASM(ELEM_LOADS3, ELEM_FIXUPS3)
                              : [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2)
                              : [src] "r"(src)
                              : "cc"
                              : fault);
        break;
    case 4:
        __asm__ volatile goto(ELEM_WORDS_ASM(ELEM_LOADS4, ELEM_FIXUPS4)
                              : [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)
                              : [src] "r"(src)
                              : "cc"
                              : fault);
        break;
    default:
        return copy_words_user(dst, src, words);
    }
    /* Word by word, not through an array of the four (which GCC builds on the stack first). */
    __builtin_memcpy(dst, &w0, 8);
    if (words > 1)
        __builtin_memcpy((uint8_t *)dst + 8, &w1, 8);
    if (words > 2)
        __builtin_memcpy((uint8_t *)dst + 16, &w2, 8);
    if (words > 3)
        __builtin_memcpy((uint8_t *)dst + 24, &w3, 8);
    return true;
/* cppcheck-suppress unusedLabel ; the asm goto's target (its fixups jump here), which cppcheck does not see */
fault:
    return false;
}

/* `words` words from src into guest memory at dst (dst's range checked by the caller). */
static inline __attribute__((always_inline)) bool elem_words_out(void *dst, const void *src, size_t words)
{
    uint64_t w[2];
    switch (words) {
    case 1:
        __builtin_memcpy(w, src, 8);
        __asm__ volatile goto(ELEM_WORDS_ASM(ELEM_STORES1, ELEM_FIXUPS1) : : [dst] "r"(dst), [w0] "re"(w[0])
                              : "memory", "cc"
                              : fault);
        return true;
    case 2:
        __builtin_memcpy(w, src, 16);
        __asm__ volatile goto(ELEM_WORDS_ASM(ELEM_STORES2, ELEM_FIXUPS2)
                              :
                              : [dst] "r"(dst), [w0] "re"(w[0]), [w1] "re"(w[1])
                              : "memory", "cc"
                              : fault);
        return true;
    default:
        return copy_words_user(dst, src, words);
    }
/* cppcheck-suppress unusedLabel ; the asm goto's target (its fixups jump here), which cppcheck does not see */
fault:
    return false;
}

/* True if [va, va + n) is a guest range copy_from_guest accepts (va not 0), for a constant n. */
#define GUEST_ELEM_OK(va, n) ((uint64_t)(va) - 1 <= GUEST_VA_LIMIT - (uint64_t)(n) - 1)

static inline __attribute__((always_inline)) long copy_elem_from_guest(void *dst, uint64_t guest_src, size_t n)
{
    if (!GUEST_ELEM_OK(guest_src, n))
        return -XEN_EFAULT;
    return elem_words_in(dst, (const void *)guest_src, n / 8) ? 0 : -XEN_EFAULT;
}

static inline __attribute__((always_inline)) long copy_elem_to_guest(uint64_t guest_dst, const void *src, size_t n)
{
    if (!GUEST_ELEM_OK(guest_dst, n))
        return -XEN_EFAULT;
    return elem_words_out((void *)guest_dst, src, n / 8) ? 0 : -XEN_EFAULT;
}
/*
 * One 4-byte word from a guest address (a port number: EVTCHNOP_send) into *word: true, or false
 * for -XEN_EFAULT. The range is copy_from_guest's (not 0, the 4 bytes below GUEST_VA_LIMIT) in
 * one compare, with the limit in memory (a compare with a 64-bit constant would first need it in
 * a register); then one load, inlined (no call), under SMAP (stac/clac only where the CPU has it,
 * as copy_user; the load without SMAP is out of line). A fault on either load resumes at its
 * fixup, which closes the SMAP window it opened and goes to the caller's false: the way without
 * a fault tests nothing after the load.
 */
extern const uint64_t guest_u32_last; /* GUEST_VA_LIMIT - 4 - 1: the highest valid address - 1 */
static inline __attribute__((always_inline)) bool get_u32_from_guest(uint64_t guest_src, uint32_t *word)
{
    if (guest_src - 1 > guest_u32_last)
        return false;
    uint32_t w;
    __asm__ goto(GUEST_ACCESS_ASM("movl (%1), %0")
                 /* cppcheck-suppress legacyUninitvar ; an output: the asm writes w, cppcheck reads asm goto operands as inputs */
                 : "=r"(w) /* not early-clobber: each way reads guest_src only in the load that writes w */
                 : "r"(guest_src)
                 : "memory", "cc"
                 : fault);
    *word = w;
    return true;
/* cppcheck-suppress unusedLabel ; the asm goto's target (its fixups jump here), which cppcheck does not see */
fault:
    return false;
}

#endif
