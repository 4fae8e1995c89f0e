// SPDX-License-Identifier: MIT
// The frame table and the frame allocator. The table has one record per frame up to the end of
// available RAM; it lives in RAM itself, carved out of the largest available range, and is written
// a chunk at a time on first use. Freed frames are a LIFO list threaded through the table, and
// the frames never handed out are taken upwards after them, so allocation and release are O(1).
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/mitigate.h>
#include <moat/multiboot.h>
#include <moat/quota.h>
#include <moat/shutdown.h>

struct frame *frame_records; /* moat/frame.h: the table (its inline frame_get and frame_put) */
static mfn_t frame_count;  /* records in the table */
static mfn_t free_head = INVALID_MFN;
static struct frame_stats stats;

static bool range_overlaps(paddr_t a0, paddr_t a1, paddr_t b0, paddr_t b1) { return a0 < b1 && b0 < a1; }

/* What the allocator must never hand out, as frame-number intervals [start, end): low memory (BIOS
 * data, the EBDA, option ROMs), the image, the frame table, the modules and every non-available
 * map entry. A frame that any of them touches, even partly, is reserved. Classifying frames by
 * intervals costs a few instructions per frame; asking every frame about every entry cost 140. */
struct span {
    mfn_t start, end;
};

#define MAX_SPANS (3 + MAX_MODULES + MAX_MEM_RANGES)
static struct span spans[MAX_SPANS]; /* written by frame_init, read as the table is written */

static unsigned add_span(unsigned n, paddr_t start, paddr_t end)
{
    if (end > start)
        spans[n++] = (struct span){start >> PAGE_SHIFT, ALIGN_UP(end, PAGE_SIZE) >> PAGE_SHIFT};
    return n;
}

/* The reserved intervals, sorted by start and merged where they overlap or touch. */
static unsigned reserved_spans(const struct boot_info *bi, paddr_t image_start, paddr_t image_end,
                               paddr_t table_start, paddr_t table_end)
{
    unsigned n = add_span(0, 0, 0x100000);
    n = add_span(n, image_start, image_end);
    n = add_span(n, table_start, table_end);
    for (unsigned i = 0; i < bi->module_count; i++)
        n = add_span(n, bi->modules[i].start, bi->modules[i].end);
    for (unsigned i = 0; i < bi->mem_count; i++)
        if (bi->mem[i].type != MMAP_AVAILABLE)
            n = add_span(n, bi->mem[i].start, bi->mem[i].end);
    for (unsigned i = 1; i < n; i++) /* insertion sort: a few dozen entries, once */
        for (unsigned j = i; j > 0 && spans[j].start < spans[j - 1].start; j--) {
            struct span t = spans[j];
            spans[j] = spans[j - 1];
            spans[j - 1] = t;
        }
    unsigned m = 0;
    for (unsigned i = 0; i < n; i++) {
        if (m && spans[i].start <= spans[m - 1].end)
            spans[m - 1].end = MAX(spans[m - 1].end, spans[i].end);
        else
            spans[m++] = spans[i];
    }
    return m;
}

/* The order to visit the available ranges in: by start address (the map need not be sorted). */
static unsigned available_order(const struct boot_info *bi, uint8_t order[MAX_MEM_RANGES])
{
    unsigned n = 0;
    for (unsigned i = 0; i < bi->mem_count; i++) {
        if (bi->mem[i].type != MMAP_AVAILABLE)
            continue;
        unsigned j = n++;
        for (; j > 0 && bi->mem[order[j - 1]].start > bi->mem[i].start; j--)
            order[j] = order[j - 1];
        order[j] = (uint8_t)i;
    }
    return n;
}

/*
 * The table is written lazily: records [0, frame_records_ready) are, the rest are written a chunk at a
 * time the first time anything reaches them (frame_info, the allocator), so a boot does not pay
 * for 32k records (a 128 MiB machine) to use a few hundred frames. Every way into the table goes
 * through frame_info, or through the allocator, which reaches only frames below fresh_next, so no
 * lookup ever sees an unwritten record. Frames below fresh_next that are free are on the free
 * list; free frames from fresh_next up were never handed out and are on no list (the allocator
 * takes them in ascending order once the list is empty: the order a list threaded through all of
 * them upwards would give).
 */
#define TABLE_CHUNK 512 /* records (8 KiB of table) written at a time */
static const struct boot_info *table_bi;
mfn_t frame_records_ready; /* moat/frame.h: records [0, this) are written */
static mfn_t fresh_next;
static unsigned nspans;

/* Writes the records of frames [lo, hi) from the memory map and the reserved spans; with
 * count, adds them to the stats instead of writing them (frame_init, over the whole table). */
static void classify(mfn_t lo, mfn_t hi, bool count)
{
    const struct boot_info *bi = table_bi;
    uint8_t order[MAX_MEM_RANGES];
    unsigned navail = available_order(bi, order);
    mfn_t seen_end = 0;
    for (unsigned k = 0; k < navail; k++) {
        const struct mem_range *r = &bi->mem[order[k]];
        mfn_t mfn = ALIGN_UP(r->start, PAGE_SIZE) >> PAGE_SHIFT, end = r->end >> PAGE_SHIFT;
        if (end <= mfn)
            continue;
        if (count)
            stats.total += end - mfn;
        if (mfn < seen_end) { /* overlapping available ranges: a frame counts once */
            mfn_t dup_end = MIN(end, seen_end);
            if (count)
                stats.reserved += dup_end - mfn;
            mfn = dup_end;
        }
        seen_end = MAX(seen_end, end);
        if (end > frame_count) { /* beyond MAX_PHYS_MEMORY */
            mfn_t cut = MAX(mfn, frame_count);
            if (count)
                stats.reserved += end - cut;
            end = cut;
        }
        mfn = MAX(mfn, lo);
        end = MIN(end, hi);
        unsigned s = 0;
        while (mfn < end) {
            while (s < nspans && spans[s].end <= mfn)
                s++;
            bool reserved = s < nspans && spans[s].start <= mfn;
            mfn_t stop = reserved ? MIN(end, spans[s].end) : s < nspans ? MIN(end, spans[s].start) : end;
            if (count) {
                *(reserved ? &stats.reserved : &stats.free) += stop - mfn;
                mfn = stop;
            } else if (reserved) {
                for (; mfn < stop; mfn++) {
                    frame_records[mfn].use = FRAME_RESERVED;
                    frame_records[mfn].owner = DOMID_HV;
                }
            } else {
                for (; mfn < stop; mfn++)
                    frame_records[mfn].use = FRAME_FREE;
            }
        }
    }
}

/* Writes the records up to and including mfn's chunk (mfn < frame_count). */
static void table_extend(mfn_t mfn)
{
    mfn_t hi = MIN(frame_count, ALIGN_UP(mfn + 1, TABLE_CHUNK));
    memset(&frame_records[frame_records_ready], 0, (hi - frame_records_ready) * sizeof(struct frame)); /* FRAME_ABSENT */
    classify(frame_records_ready, hi, false);
    frame_records_ready = hi;
}

void frame_init(const struct boot_info *bi, paddr_t image_start, paddr_t image_end)
{
    paddr_t ram_end = 0;
    for (unsigned i = 0; i < bi->mem_count; i++)
        if (bi->mem[i].type == MMAP_AVAILABLE)
            ram_end = MAX(ram_end, ALIGN_DOWN(bi->mem[i].end, PAGE_SIZE));
    if (ram_end > MAX_PHYS_MEMORY) {
        printk("moat: only the first %lu MiB of memory are used\n", MAX_PHYS_MEMORY >> 20);
        ram_end = MAX_PHYS_MEMORY;
    }
    frame_count = ram_end >> PAGE_SHIFT;

    /* Place the table at the top of the largest available range, clear of the image and modules. */
    size_t table_bytes = ALIGN_UP(frame_count * sizeof(struct frame), PAGE_SIZE);
    paddr_t table_start = 0;
    for (unsigned i = 0; i < bi->mem_count; i++) {
        const struct mem_range *r = &bi->mem[i];
        if (r->type != MMAP_AVAILABLE || r->start >= (1ULL << 30))
            continue;
        /* It must lie inside what the boot page tables map (the first GiB). */
        paddr_t cand = ALIGN_DOWN(MIN(r->end, 1ULL << 30), PAGE_SIZE);
        if (cand < table_bytes || cand - table_bytes < MAX(r->start, 0x100000))
            continue;
        cand -= table_bytes;
        bool clash = range_overlaps(cand, cand + table_bytes, image_start, image_end);
        for (unsigned m = 0; m < bi->module_count; m++)
            clash |= range_overlaps(cand, cand + table_bytes, bi->modules[m].start, bi->modules[m].end);
        if (!clash && cand > table_start)
            table_start = cand;
    }
    if (!table_start)
        panic("no room for the frame table (%lu bytes)", (uint64_t)table_bytes);
    frame_records = phys_to_virt(table_start);

    /* Count every whole frame inside an available range: visiting the ranges by address, a frame
     * inside two overlapping available ranges counts once as usable (sorted by start, a range's
     * frames below the highest end seen so far were all counted already). The records themselves
     * are written by table_extend, from the same spans. */
    table_bi = bi;
    nspans = reserved_spans(bi, image_start, image_end, table_start, table_start + table_bytes);
    classify(0, frame_count, true);
}

/* The lowest free frame never handed out, or INVALID_MFN (fresh_next moves past what is not free:
 * reserved and absent frames never become free). */
static noinline mfn_t fresh_frame(void)
{
    for (; fresh_next < frame_count; fresh_next++) {
        if (fresh_next >= frame_records_ready)
            table_extend(fresh_next);
        if (frame_records[fresh_next].use == FRAME_FREE)
            return fresh_next;
    }
    return INVALID_MFN;
}

/* A frame's charges: owner's label pool (mitigate=pools) and, with d, d's memory quota. False:
 * refused, nothing charged. */
static bool charge(uint16_t owner, struct domain *d, uint8_t *pool)
{
    *pool = pool_charge(owner);
    if (*pool == POOL_FULL)
        return false; /* the owner's label has used its share: as if memory were exhausted */
    if (d && !quota_take(d, QUOTA_FRAMES, 1)) { /* its label's (or its creator's) memory quota is spent */
        pool_uncharge(*pool);
        return false;
    }
    return true;
}

/* The first word of a frame's record once handed out to owner (use, pool, owner and refcount):
 * a run builds it once and stores it whole a frame, where the fields one by one were four stores. */
static inline __attribute__((always_inline)) uint64_t record(enum frame_use use, uint16_t owner, uint8_t pool)
{
    const struct frame f = {.use = (uint8_t)use, .pool = pool, .owner = owner, .refcount = 1};
    uint64_t w;
    _Static_assert(offsetof(struct frame, next_free) == sizeof(w), "use, pool, owner, refcount: one word");
    __builtin_memcpy(&w, &f, sizeof(w));
    return w;
}

/* Writes f's record (mfn's, which was free; rec from record()) and zeroes the frame; taking it
 * off the free list (or past fresh_next) and the counters are the caller's (a run counts its
 * frames once). The scrub is inline: in a run of frames a call would cost the loop its registers. */
static inline __attribute__((always_inline)) void take(struct frame *f, mfn_t mfn, uint64_t rec)
{
    BUG_ON(f->use != FRAME_FREE);
    __builtin_memcpy(f, &rec, sizeof(rec));
    f->next_free = INVALID_MFN;
    arch_clear_page(mfn_to_virt(mfn));
}

/* Takes mfn, the free list's head or the lowest frame never handed out, off the list or past
 * fresh_next; its record. */
static inline __attribute__((always_inline)) struct frame *unlink(mfn_t mfn)
{
    struct frame *f = &frame_records[mfn];
    if (mfn == free_head)
        free_head = f->next_free;
    else
        fresh_next = mfn + 1;
    return f;
}

/* Hands out mfn (the free list's head, or the lowest frame never handed out) to owner, zeroed. */
static inline __attribute__((always_inline)) mfn_t hand_out(mfn_t mfn, enum frame_use use, uint16_t owner,
                                                            uint8_t pool)
{
    take(unlink(mfn), mfn, record(use, owner, pool));
    stats.free--;
    stats.used++;
    return mfn;
}

/* The whole way: a frame never handed out when the list is empty, the charges. */
static noinline mfn_t alloc_charged(enum frame_use use, uint16_t owner, struct domain *d)
{
    mfn_t mfn = free_head != INVALID_MFN ? free_head : fresh_frame();
    if (mfn == INVALID_MFN)
        return INVALID_MFN;
    uint8_t pool = POOL_NONE;
    if ((d || mitigated(MITIGATE_POOLS)) && !charge(owner, d, &pool))
        return INVALID_MFN;
    return hand_out(mfn, use, owner, pool);
}

/* A frame for owner; d, when the frame is a domain's, pays its quota. The common case (a freed
 * frame with nothing to charge: a domain's prepaid RAM with the pools off) without the calls of
 * the rest, which would cost every frame of a domain's creation their register saves. */
static inline mfn_t alloc(enum frame_use use, uint16_t owner, struct domain *d)
{
    if (free_head == INVALID_MFN || d || mitigated(MITIGATE_POOLS))
        return alloc_charged(use, owner, d);
    return hand_out(free_head, use, owner, POOL_NONE);
}

#ifdef CONFIG_SELFTEST
/*
 * Test-only `failalloc=K`: once the boot's domains are built, the K-th allocation of a frame that
 * is not guest RAM is refused, as if memory had run out at exactly that point; `failalloc=boot:K`
 * counts from before the first of them instead (their creation, device assignment included). A
 * run of boots with K = 1, 2, ... reaches every caller's recovery in turn (a page table for a
 * grant mapping, a new page of grant entries, a created domain's tables), each of which must
 * answer an error and give every frame back (tests/domains/test_alloc_failures.py). Guest RAM is
 * left out: its pages come in runs, and one refused page takes the same path as any other.
 * `failalloc=ram:K` (or `boot:ram:K`) counts guest RAM's frames instead, and only them (a domain's
 * pages, taken in runs by frame_alloc_run, and its info pages): a refusal part-way through a run
 * must give back the frames the run took before it.
 */
static bool failalloc_armed, failalloc_ram;
static unsigned long failalloc_at, failalloc_count;

void frame_failalloc_arm(bool boot_domains)
{
    char arg[24];
    if (failalloc_armed || !cmdline_get("failalloc", arg, sizeof(arg)))
        return;
    const char *p = arg;
    bool from_boot = !strncmp(p, "boot:", 5);
    if (from_boot != boot_domains)
        return;
    p += from_boot ? 5 : 0;
    failalloc_ram = !strncmp(p, "ram:", 4);
    p += failalloc_ram ? 4 : 0;
    failalloc_at = 0;
    for (; *p >= '0' && *p <= '9' && failalloc_at < 100000000; p++)
        failalloc_at = failalloc_at * 10 + (unsigned long)(*p - '0');
    failalloc_armed = true;
    printk("selftest: failalloc: allocation %lu%s %s will be refused\n", failalloc_at,
           failalloc_ram ? " of guest RAM" : "", from_boot ? "from the boot's domains on" : "after the boot's domains");
}

void frame_failalloc_report(void)
{
    if (failalloc_armed)
        printk("selftest: failalloc: %lu allocations counted\n", failalloc_count);
}

static bool failalloc(enum frame_use use, const void *caller)
{
    if (!failalloc_armed || (use == FRAME_GUEST) != failalloc_ram || ++failalloc_count != failalloc_at)
        return false;
    printk("selftest: failalloc: allocation %lu (use %u) refused, called from 0x%lx\n", failalloc_count,
           (unsigned)use, (unsigned long)caller);
    return true;
}
#define FAILALLOC(use) failalloc(use, __builtin_return_address(0))
#else
#define FAILALLOC(use) false
#endif

/* The hypervisor's own frames, or a domain's by id (looked up for its quota). */
mfn_t frame_alloc(enum frame_use use, uint16_t owner)
{
    if (FAILALLOC(use))
        return INVALID_MFN;
    return alloc(use, owner, owner < DOMID_FIRST_RESERVED ? domain_by_id_any(owner) : NULL);
}

/* A frame a domain holds: the caller has the domain, so no lookup per frame (a 1 MiB domain's
 * creation allocates some 260). */
mfn_t frame_alloc_for(enum frame_use use, struct domain *d)
{
    if (FAILALLOC(use))
        return INVALID_MFN;
    return alloc(use, d->domid, d);
}

/* Puts an allocated frame (mfn, whose record is f) back on the free list, its pool charge with it
 * (frame_free, and a run given back); its quota charge is the caller's. */
static inline __attribute__((always_inline)) void put_back(struct frame *f, mfn_t mfn)
{
    pool_uncharge(f->pool); /* an orphan stays charged to its dead owner's label until now */
    f->pool = POOL_NONE;
    f->use = FRAME_FREE;
    f->owner = 0;
    f->refcount = 0;
    f->next_free = free_head;
    free_head = mfn;
    stats.free++;
    stats.used--;
}

/* frame_alloc_run's common case: frames [*i, n) from the free list while it has any (nothing to
 * charge: the pools are off), its head in a register. False: failalloc refused the next one. */
static inline __attribute__((always_inline)) bool run_from_list(enum frame_use use, uint16_t owner, uint64_t *out,
                                                                size_t *i, size_t n, uint64_t bits)
{
    struct frame *table = frame_records;
    uint64_t rec = record(use, owner, POOL_NONE);
    arch_compute_once(rec); /* in a register, not rebuilt a frame */
    mfn_t mfn = free_head;
    bool ok = true;
    for (; *i < n && mfn != INVALID_MFN; ++*i) {
        if (FAILALLOC(use)) {
            ok = false;
            break;
        }
        struct frame *f = &table[mfn];
        mfn_t next = f->next_free;
        take(f, mfn, rec);
        out[*i] = (mfn << PAGE_SHIFT) | bits;
        mfn = next;
    }
    free_head = mfn;
    return ok;
}

/*
 * A run of n frames for d (its RAM: gpt_populate), whose quota charge the caller has already
 * taken, each handed out as frame_alloc_for hands one out but for the quota (the same record,
 * the same scrub, the pool charge with mitigate=pools, failalloc's count), in one call: each frame's
 * address ORed with `bits` goes to out[i] (the caller's entries: a leaf table of the guest's page
 * tables). All or nothing: refused part-way (memory exhausted, d's pool full, failalloc), every
 * frame the run took goes back, in reverse, so the free list is as it was, and the answer is false.
 */
bool frame_alloc_run(enum frame_use use, struct domain *d, uint64_t *out, size_t n, uint64_t bits)
{
    BUG_ON(bits & (MAX_PHYS_MEMORY - PAGE_SIZE)); /* no address bit: the undo below takes them off */
    uint16_t owner = d->domid;
    bool pools = mitigated(MITIGATE_POOLS);
    size_t i = 0;
    if (pools || run_from_list(use, owner, out, &i, n, bits)) {
        for (; i < n; i++) { /* the free list is empty, or each frame has its pool charge */
            if (FAILALLOC(use))
                break;
            mfn_t mfn = free_head != INVALID_MFN ? free_head : fresh_frame();
            if (mfn == INVALID_MFN)
                break;
            uint8_t pool = pools ? pool_charge(owner) : POOL_NONE;
            if (pool == POOL_FULL)
                break;
            take(unlink(mfn), mfn, record(use, owner, pool));
            out[i] = (mfn << PAGE_SHIFT) | bits;
        }
    }
    stats.free -= i;
    stats.used += i;
    if (i == n)
        return true;
    while (i--) {
        mfn_t mfn = (out[i] & ~bits) >> PAGE_SHIFT;
        put_back(&frame_records[mfn], mfn);
        out[i] = 0;
    }
    return false;
}

/* A frame the caller holds is allocated, so its record is written (below frame_records_ready): anything
 * else is a hypervisor bug. One BUG_ON a function, the test first, so the common way has no
 * frame set up for the report. */
void frame_free(mfn_t mfn)
{
    /* Freeing something that is not an allocated frame is a hypervisor bug, never a guest's doing. */
    BUG_ON(mfn >= frame_records_ready || frame_records[mfn].use == FRAME_FREE || frame_records[mfn].use == FRAME_RESERVED ||
           frame_records[mfn].use == FRAME_ABSENT);
    struct frame *f = &frame_records[mfn];
    quota_frame_give(f->owner); /* not an orphan's: its quota charge went with its owner */
    put_back(f, mfn);
}

void frame_release_owned(mfn_t mfn)
{
    BUG_ON(mfn >= frame_records_ready || frame_records[mfn].refcount == 0);
    struct frame *f = &frame_records[mfn];
    if (f->refcount == 1) {
        frame_free(mfn);
    } else {
        f->refcount--;
        quota_frame_give(f->owner); /* the owner's death gives back its charge; a mapper keeps the page */
        f->owner = DOMID_ORPHAN;
    }
}

/* Out of line: the first lookup in a chunk not yet written. */
static noinline struct frame *frame_info_unwritten(mfn_t mfn)
{
    if (mfn >= frame_count)
        return NULL;
    table_extend(mfn);
    return &frame_records[mfn];
}

struct frame *frame_info(mfn_t mfn) { return mfn < frame_records_ready ? &frame_records[mfn] : frame_info_unwritten(mfn); }

mfn_t frame_table_ready(mfn_t *size)
{
    *size = frame_count;
    return frame_records_ready;
}

static bool use_reserved(uint8_t use) { return use == FRAME_RESERVED || use == FRAME_ABSENT; }

bool frame_is_reserved(mfn_t mfn)
{
    if (mfn < frame_records_ready) /* (frame_info's test, without its NULL a written record never is) */
        return use_reserved(frame_records[mfn].use);
    const struct frame *f = frame_info_unwritten(mfn);
    return !f || use_reserved(f->use);
}

void frame_get_stats(struct frame_stats *out) { *out = stats; }

bool frame_audit(void)
{
    uint64_t free = 0, used = 0, listed = 0;
    if (frame_records_ready < frame_count)
        table_extend(frame_count - 1); /* the whole table, to count it */
    for (mfn_t mfn = 0; mfn < frame_count; mfn++) {
        if (frame_records[mfn].use == FRAME_FREE)
            free++;
        else if (frame_records[mfn].use != FRAME_ABSENT && frame_records[mfn].use != FRAME_RESERVED)
            used++;
    }
    /* Bounded: a corrupted list could loop. */
    for (mfn_t mfn = free_head; mfn != INVALID_MFN && listed <= frame_count; mfn = frame_records[mfn].next_free) {
        if (mfn >= frame_count || frame_records[mfn].use != FRAME_FREE)
            break;
        listed++;
    }
    for (mfn_t mfn = fresh_next; mfn < frame_count; mfn++) /* free, never handed out: on no list */
        listed += frame_records[mfn].use == FRAME_FREE;
    if (free == stats.free && listed == stats.free && used == stats.used)
        return true;
    printk("frames: audit failed: the table has %lu free (%lu on the free list) and %lu used, the counters say "
           "%lu free and %lu used\n", free, listed, used, stats.free, stats.used);
    return false;
}
