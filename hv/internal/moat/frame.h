/* SPDX-License-Identifier: MIT */
/*
 * The frame table: one record per machine frame saying who owns it and what it is used for.
 * Every frame the allocator hands out comes back through frame_free(), so the free count returns
 * to its baseline after any workload (the boot tests check that).
 */
#ifndef MOAT_FRAME_H
#define MOAT_FRAME_H

#include <moat/boot_info.h>
#include <moat/config.h>
#include <moat/shutdown.h>
#include <moat/types.h>

typedef uint64_t mfn_t; /* machine frame number */
#define INVALID_MFN ((mfn_t)-1)
#define INVALID_PADDR ((paddr_t)-1) /* no frame's address (a domain without page tables) */

enum frame_use {
    FRAME_ABSENT = 0,   /* not RAM, or beyond what the table covers */
    FRAME_RESERVED,     /* RAM the allocator never manages: low memory, the image, modules, the table */
    FRAME_FREE,
    FRAME_HV,           /* hypervisor data */
    FRAME_PAGETABLE,    /* a page table the hypervisor built */
    FRAME_GUEST,        /* guest RAM (later issues) */
};

#define DOMID_HV 0x7ff2     /* owner of frames the hypervisor itself uses (DOMID_XEN) */
#define DOMID_ORPHAN 0x7ff4 /* a dead domain's frame that is still referenced (DOMID_INVALID) */

struct frame {
    uint8_t use;       /* enum frame_use */
    uint8_t pool;      /* the label pool it is charged to (mitigate=pools; moat/mitigate.h) */
    uint16_t owner;    /* domain id, or DOMID_HV */
    uint32_t refcount;
    mfn_t next_free;   /* free-list link while FRAME_FREE */
};

struct frame_stats {
    uint64_t total;    /* whole frames inside available memory-map ranges */
    uint64_t free;
    uint64_t used;
    uint64_t reserved;
};

void frame_init(const struct boot_info *bi, paddr_t image_start, paddr_t image_end);
/* A zeroed frame, or INVALID_MFN when memory is exhausted (never panics: callers report -ENOMEM). */
mfn_t frame_alloc(enum frame_use use, uint16_t owner);
struct domain;
/* The same for a frame that d holds (its RAM, page tables, tables of its ports and grants): charged
 * to d's memory quota, which may refuse it (INVALID_MFN, as when memory is exhausted). */
mfn_t frame_alloc_for(enum frame_use use, struct domain *d);
/* n such frames at once, whose quota charge the caller has already taken (a domain's RAM, a leaf
 * table's worth at a time: gpt_populate), each address ORed with bits (no address bit in it)
 * written to out[i]: all of them, or none (false; a refusal part-way gives back what the run
 * took, and the quota stays the caller's to give back). */
bool frame_alloc_run(enum frame_use use, struct domain *d, uint64_t *out, size_t n, uint64_t bits);
void frame_free(mfn_t mfn);
#ifdef CONFIG_SELFTEST
/* Test-only `failalloc=K` (frame.c): counts allocations from here on, refuses the K-th; called
 * before the boot's domains are built (boot_domains: `failalloc=boot:K`) and after. */
void frame_failalloc_arm(bool boot_domains);
/* At the end: how many allocations were counted (a run of boots learns how far to go). */
void frame_failalloc_report(void);
#else
static inline void frame_failalloc_arm(bool boot_domains) { (void)boot_domains; }
static inline void frame_failalloc_report(void) {}
#endif
/* The table and how far its records are written (frame.c), for the two inline helpers below only:
 * a grant's map and unmap take and drop a reference each, and a call each was a tenth of the work. */
extern struct frame *frame_records;
extern mfn_t frame_records_ready;
/* Reference counting for frames that outlive their owner's use (a granted page still mapped). A
 * reference to a frame that is not an allocated, written record, a count that would wrap and a put
 * with none left are hypervisor bugs. */
static inline void frame_get(mfn_t mfn)
{
    BUG_ON(mfn >= frame_records_ready || frame_records[mfn].use == FRAME_FREE);
    uint32_t count;
    /* The count that would wrap, tested by the increment's own carry rather than a compare. */
    BUG_ON(__builtin_add_overflow(frame_records[mfn].refcount, 1u, &count));
    frame_records[mfn].refcount = count;
}
static inline void frame_put(mfn_t mfn) /* frees the frame with its last reference */
{
    BUG_ON(mfn >= frame_records_ready);
    struct frame *f = &frame_records[mfn];
    if (f->refcount > 1) { /* not the last: one compare for both tests below */
        f->refcount--;
        return;
    }
    BUG_ON(f->refcount == 0);
    frame_free(mfn); /* f->refcount stays 1: frame_free's own bookkeeping expects an allocated frame */
}
/* The owner lets go of a frame: freed now, or orphaned until the last other reference goes. */
void frame_release_owned(mfn_t mfn);
struct frame *frame_info(mfn_t mfn); /* NULL if mfn is outside the table */
/* The table's records [0, frame_table_ready()) of *size are written; the rest are written a chunk
 * at a time on first use (frame.c). For the self-test. */
mfn_t frame_table_ready(mfn_t *size);
void frame_get_stats(struct frame_stats *out);
/* Recounts the free and used frames from the table and the free list: true when they agree with
 * the counters frame_get_stats reports (else it says how they differ). */
bool frame_audit(void);
bool frame_is_reserved(mfn_t mfn);

static inline void *mfn_to_virt(mfn_t mfn) { return (void *)(DIRECTMAP_BASE + (mfn << PAGE_SHIFT)); }
static inline void *phys_to_virt(paddr_t pa) { return (void *)(DIRECTMAP_BASE + pa); }
static inline paddr_t virt_to_phys(const void *va)
{
    vaddr_t v = (vaddr_t)va;
    return v >= KERNEL_VBASE ? v - KERNEL_VBASE : v - DIRECTMAP_BASE;
}

#endif
