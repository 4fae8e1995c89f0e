// SPDX-License-Identifier: MIT
// Grant tables (Xen v1 entries). The granter's table lives in its own RAM; the hypervisor keeps
// an active copy of each pinned entry and, per mapper, a maptrack of its mappings. Every pin takes
// a reference on the granted frame, so a page outlives a dying granter until its last unmap.
#include <moat/arch.h>
#include <moat/domain.h>
#include <moat/grant_table.h>
#include <moat/guest_tlb.h>
#include <moat/lib.h>
#include <moat/nospec.h>
#include <moat/quota.h>
#include <moat/sched.h>
#include <moat/xsm.h>

#define MT_INUSE (1u << 0)
#define MT_READONLY (1u << 1)
#define MT_REVOKED (1u << 2)
#define MT_NONE UINT32_MAX
#define MAX_PINS 127 /* an 8-bit pin counter stops below 128, as in Xen */

/* An active entry's 31-bit mfn, and a maptrack entry's 32-bit one, hold every frame there can be. */
_Static_assert((MAX_PHYS_MEMORY >> PAGE_SHIFT) <= (1ull << 31), "active_grant.frame");

/* An active entry's fields as its word: the first byte is the word's low byte (active_word). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "active_word");
_Static_assert(offsetof(struct active_grant, rw_pins) == 1 && offsetof(struct active_grant, domid) == 2 &&
                   offsetof(struct active_grant, frame) == 4 && sizeof(struct active_grant) == 8,
               "active_word");
static inline uint64_t active_word(bool readonly, domid_t domid, mfn_t m, bool ro_only)
{
    uint64_t pins = readonly ? 1 : 1u << 8; /* ro_pins 1, or rw_pins 1 */
    return pins | (uint64_t)domid << 16 | ((uint64_t)m << 1 | ro_only) << 32;
}
_Static_assert(sizeof(struct maptrack_entry) == 32, "MAPTRACK_PER_PAGE entries a page");
/* A window page's leaf is entry host_page % GPT_LEAVES of its leaf table (the window is page-table aligned). */
_Static_assert(GUEST_GRANT_VA % (GPT_LEAVES * PAGE_SIZE) == 0, "leaf index");
_Static_assert(MOAT_MAX_DOMAINS <= 256, "granter_slot holds a domain slot in 8 bits");

static struct grant_table *gt(struct domain *d) { return &d->gnttab; }

static uint32_t nr_entries(struct domain *d) { return gt(d)->nr_frames * GNTTAB_ENTRIES_PER_FRAME; }

static struct grant_entry_v1 *shared_entry(struct domain *d, grant_ref_t ref)
{
    struct grant_entry_v1 *page = mfn_to_virt(gt(d)->frames[ref / GNTTAB_ENTRIES_PER_FRAME]);
    return &page[ref % GNTTAB_ENTRIES_PER_FRAME];
}

static struct active_grant *active_entry(struct domain *d, grant_ref_t ref)
{
    return &gt(d)->active[ref / GNTTAB_ENTRIES_PER_FRAME][ref % GNTTAB_ENTRIES_PER_FRAME];
}

static struct maptrack_entry *mt_entry(struct domain *d, uint32_t handle)
{
    return &gt(d)->maptrack[handle / MAPTRACK_PER_PAGE][handle % MAPTRACK_PER_PAGE];
}

/* Hypervisor bookkeeping pages are owned by the domain they serve, so its death gives them back. */
static void *alloc_hv_page(struct domain *d)
{
    mfn_t m = frame_alloc_for(FRAME_HV, d);
    if (m == INVALID_MFN)
        return NULL;
    d->frames_held++;
    return mfn_to_virt(m);
}

static void free_hv_page(struct domain *d, void *p)
{
    frame_free(virt_to_phys(p) >> PAGE_SHIFT);
    d->frames_held--;
}

void gnttab_init(struct domain *d, uint32_t max_frames)
{
    struct grant_table *t = gt(d);
    memset(t, 0, sizeof(*t));
    t->max_frames = max_frames ? MIN(max_frames, GNTTAB_MAX_FRAMES) : GNTTAB_DEFAULT_MAX_FRAMES;
    t->mt_free = t->mt_used = MT_NONE;
    t->ram_dir = t->window_dir = GPT_DIR_UNKNOWN;
}

/* The leaf entry mapping one of d's PFNs in d's own page tables, or 0 (a hole or out of range). */
static inline uint64_t pfn_pte(struct domain *d, uint64_t pfn)
{
    uint64_t mask; /* the bounds check and its speculation mask from one compare */
    if (!array_index_check_nospec(pfn, d->nr_pages, &mask))
        return 0;
    pfn &= mask;
    vaddr_t va = GUEST_RAM_VA + pfn * PAGE_SIZE;
    if (va >= GPT_DIR_SPAN) /* RAM past the first GiB: a walk */
        return gpt_lookup(d, va);
    return gpt_leaf_value_via(d, &gt(d)->ram_dir, va);
}

/* The machine frame behind one of d's PFNs, or INVALID_MFN (a hole or out of range). */
static mfn_t domain_pfn_to_mfn(struct domain *d, uint64_t pfn)
{
    uint64_t pte = pfn_pte(d, pfn);
    return pte ? pte_mfn(pte) : INVALID_MFN;
}

/*
 * The frame behind one of d's PFNs, only if d itself may write that page: the hypervisor never
 * writes (or lets another domain write) a page its owner mapped read-only, such as its code.
 * The same rule as Xen's writable page type.
 */
static mfn_t writable_pfn_to_mfn(struct domain *d, uint64_t pfn)
{
    uint64_t pte = pfn_pte(d, pfn);
    return pte_writable(pte) ? pte_mfn(pte) : INVALID_MFN;
}

/* ---- maptrack ---- */

/* A free handle, its entry in *entry, linked as in use; MT_NONE if none (quota or memory). */
static uint32_t mt_alloc(struct domain *d, struct maptrack_entry **entry)
{
    struct grant_table *t = gt(d);
    if (!quota_account_take(&d->quota, QUOTA_MAPTRACK, 1)) /* its label's (or its creator's) mappings are all in use */
        return MT_NONE;
    if (t->mt_free == MT_NONE) {
        unsigned page = t->mt_count / MAPTRACK_PER_PAGE;
        struct maptrack_entry *p = page < MAPTRACK_PAGES ? alloc_hv_page(d) : NULL;
        if (!p) {
            quota_account_give(&d->quota, QUOTA_MAPTRACK, 1);
            return MT_NONE;
        }
        t->maptrack[page] = p;
        for (unsigned i = MAPTRACK_PER_PAGE; i-- > 0;) {
            p[i].next = t->mt_free;
            t->mt_free = page * MAPTRACK_PER_PAGE + i;
        }
        t->mt_count += MAPTRACK_PER_PAGE;
    }
    uint32_t h = t->mt_free;
    struct maptrack_entry *e = mt_entry(d, h);
    t->mt_free = e->next;
    /* Link into the in-use list: revocation walks only live mappings. */
    e->prev = MT_NONE;
    e->next = t->mt_used;
    if (t->mt_used != MT_NONE)
        mt_entry(d, t->mt_used)->prev = h;
    t->mt_used = h;
    e->flags = MT_INUSE;
    *entry = e;
    return h;
}

/* Frees handle h, whose entry is e (the caller has it). Inline in the unmap, whose call kept its
 * status and handle across it on the stack; out of line (mt_free_call) on a failed map, where
 * inlined it cost the map's own way registers. */
static inline __attribute__((always_inline)) void mt_free(struct domain *d, uint32_t h, struct maptrack_entry *e)
{
    struct grant_table *t = gt(d);
    if (e->prev != MT_NONE)
        mt_entry(d, e->prev)->next = e->next;
    else
        t->mt_used = e->next;
    if (e->next != MT_NONE)
        mt_entry(d, e->next)->prev = e->prev;
    e->flags = 0; /* no longer in use (mt_lookup); a map writes every other field anew */
    e->next = t->mt_free;
    t->mt_free = h;
    quota_account_give(&d->quota, QUOTA_MAPTRACK, 1);
}

static noinline void mt_free_call(struct domain *d, uint32_t h, struct maptrack_entry *e) { mt_free(d, h, e); }

/* The entry of a guest's handle if in use, and the handle masked for speculation in *masked. */
static struct maptrack_entry *mt_lookup(struct domain *d, grant_handle_t h, uint32_t *masked)
{
    uint64_t mask;
    if (!array_index_check_nospec(h, gt(d)->mt_count, &mask))
        return NULL;
    *masked = h & (uint32_t)mask;
    struct maptrack_entry *e = mt_entry(d, *masked);
    return (e->flags & MT_INUSE) ? e : NULL;
}

/* ---- pins: GTF_reading/GTF_writing follow the active counts ---- */

/*
 * The GTF bits in the granter's entry follow its pins: GTF_reading while any, GTF_writing while a
 * writable one. They are written on the first pin of a kind and the last unpin of a kind only;
 * between those they stay what they were (a granter that clears them meanwhile misleads only
 * itself: it is told at the next). The guest may race us on its entry, but we only ever touch our
 * two bits, each change one atomic OR or AND, which always lands (no compare-exchange that a
 * guest rewriting its flags could make fail).
 */
static uint16_t *gtf_word(struct domain *granter, grant_ref_t ref) { return &shared_entry(granter, ref)->flags; }

/*
 * Pins `ref` of granter for subj (read-only or writable). On the first pin the guest's entry is
 * checked and copied into the active entry; later pins are checked against that copy only, so
 * rewriting a pinned entry gains the granter (or anyone) nothing. The frame's reference is the
 * caller's to take (frame_get) once the pin holds, and to drop after the unpin. Inline in its two callers (a
 * map and a copy's side): the call and its saved registers were a fifth of it.
 */
static inline __attribute__((always_inline)) int16_t pin(struct domain *granter, struct domain *subj,
                                                          grant_ref_t ref, bool readonly, mfn_t *mfn)
{
    struct grant_table *t = gt(granter);
    uint64_t mask; /* the bounds check and its speculation mask from one compare */
    if (!array_index_check_nospec(ref, nr_entries(granter), &mask))
        return t->nr_frames == 0 ? GNTST_general_error : GNTST_bad_gntref; /* no table: no entries */
    ref &= (grant_ref_t)mask;
    /* The active entry and the guest's entry, each found once (both are indexed alike). */
    struct active_grant *a = &t->active[ref / GNTTAB_ENTRIES_PER_FRAME][ref % GNTTAB_ENTRIES_PER_FRAME];
    struct grant_entry_v1 *shared =
        (struct grant_entry_v1 *)mfn_to_virt(t->frames[ref / GNTTAB_ENTRIES_PER_FRAME]) + ref % GNTTAB_ENTRIES_PER_FRAME;
    if (a->ro_pins == 0 && a->rw_pins == 0) {
        struct grant_entry_v1 snap;
        __builtin_memcpy(&snap, shared, sizeof(snap)); /* read once (one load): no double fetch */
        if ((snap.flags & GTF_type_mask) != GTF_permit_access || snap.domid != subj->domid)
            return GNTST_general_error;
        if (!readonly && (snap.flags & GTF_readonly))
            return GNTST_general_error;
        uint64_t pte = pfn_pte(granter, snap.frame); /* one walk for the frame and its writability */
        if (!pte)
            return GNTST_bad_page;
        mfn_t m = pte_mfn(pte);
        /*
         * Writable access needs a page the granter may write itself (not its code): a grant
         * cannot make the granter's read-only pages writable behind its back. The active entry
         * remembers, so a later writable pin of a first read-only pin is refused too. (A writable
         * pin got here only with GTF_readonly clear: the leaf alone decides it.)
         */
        bool ro_only = readonly ? (snap.flags & GTF_readonly) || !pte_writable(pte) : false;
        if (!readonly && !pte_writable(pte))
            return GNTST_general_error;
        /*
         * The first pin: the entry written whole with its one pin (one store, not a store and an
         * increment), and its kind's GTF bits set: GTF_reading, and GTF_writing for a writable
         * one. No limit to test: no pins yet.
         */
        a->word = active_word(readonly, subj->domid, m, ro_only);
        __atomic_fetch_or(&shared->flags, readonly ? GTF_reading : GTF_reading | GTF_writing, __ATOMIC_SEQ_CST);
        *mfn = m;
        return GNTST_okay;
    }
    if (a->domid != subj->domid || (!readonly && (a->frame & 1)))
        return GNTST_general_error;
    if ((readonly ? a->ro_pins : a->rw_pins) >= MAX_PINS)
        return GNTST_general_error;
    uint8_t pins = readonly ? ++a->ro_pins : ++a->rw_pins;
    if (pins == 1) /* the first of its kind: GTF_reading, and GTF_writing while writable pins */
        __atomic_fetch_or(&shared->flags, a->rw_pins ? GTF_reading | GTF_writing : GTF_reading, __ATOMIC_SEQ_CST);
    *mfn = a->frame >> 1;
    return GNTST_okay;
}

static inline void unpin(struct domain *granter, grant_ref_t ref, bool readonly)
{
    struct active_grant *a = active_entry(granter, ref);
    uint8_t pins = readonly ? --a->ro_pins : --a->rw_pins;
    if (pins)
        return;
    if (!a->ro_pins && !a->rw_pins) /* the last of all: both bits go */
        __atomic_fetch_and(gtf_word(granter, ref), (uint16_t)~(GTF_reading | GTF_writing), __ATOMIC_SEQ_CST);
    else if (!readonly) /* the last writable one, readers left: GTF_writing goes */
        __atomic_fetch_and(gtf_word(granter, ref), (uint16_t)~GTF_writing, __ATOMIC_SEQ_CST);
}

/*
 * A mapping's granter, if it is still the same live domain (its id, and its slot, may have been
 * reused). From the slot the map recorded, with no look-up by id: a domain keeps its slot for
 * life and an incarnation names one creation (unique, as for_each_listed's cache relies on), so
 * the slot's domain is the granter while it has that incarnation; live as domain_by_id means it
 * (DOM_RUNNABLE: neither free nor dying; a freed slot keeps its last incarnation).
 */
static struct domain *live_granter(const struct maptrack_entry *e)
{
    struct domain *g = domain_in_slot(e->granter_slot);
    if (g->incarnation != e->granter_incarnation || g->state != DOM_RUNNABLE)
        g = NULL; /* (a branch that keeps g: written as ?: GCC found the slot twice) */
    return g;
}

/* A hook's or a lookup's error as a grant status (moat/xsm.h): per element, not per call. */
static int16_t status_of(int rc)
{
    switch (rc) {
    case 0: return GNTST_okay;
    case -XEN_ESRCH: return GNTST_bad_domain;
    case -XEN_EACCES: return GNTST_permission_denied;
    default: return GNTST_general_error;
    }
}

/* The domain an op names: DOMID_SELF, itself, or another live one; NULL and *status otherwise.
 * Inline (with domain_by_id's inline common case) in the map, the setup and the copy. */
static inline __attribute__((always_inline)) struct domain *named(struct domain *d, domid_t id, int16_t *status)
{
    struct domain *g = id == DOMID_SELF ? d : domain_by_id(id);
    if (!g)
        *status = status_of(xsm_no_domain(d, id, -XEN_EACCES));
    return g;
}

/* ---- map / unmap ---- */

/* The window is one page directory's region: window_dir serves every address in it. */
_Static_assert(GUEST_GRANT_VA % GPT_DIR_SPAN == 0 && GUEST_GRANT_SIZE <= GPT_DIR_SPAN, "one directory");

/* A page of the window: one compare for both bounds (below the window the difference wraps). */
_Static_assert(GUEST_GRANT_VA % PAGE_SIZE == 0, "the window's pages are its offsets' pages");
static bool grant_window_ok(uint64_t addr)
{
    uint64_t off = addr - GUEST_GRANT_VA;
    return off < GUEST_GRANT_SIZE && !(off & (PAGE_SIZE - 1));
}

/* One map element (copied in); its status, and its handle in op->handle when okay. */
static int16_t map_one(struct domain *d, struct gnttab_map_grant_ref *op)
{
    op->handle = 0;
    op->dev_bus_addr = 0;
    if (!(op->flags & (GNTMAP_host_map | GNTMAP_device_map)))
        return GNTST_bad_gntref;
    if (!(op->flags & GNTMAP_host_map))
        return GNTST_general_error; /* device mappings: no devices here */
    int16_t st;
    struct domain *g = named(d, op->dom, &st);
    if (!g)
        return st;
    int rc = xsm_grant_mapref(d, g);
    if (rc)
        return status_of(rc);
    if (!grant_window_ok(op->host_addr))
        return GNTST_bad_virt_addr;
    uint64_t *pte = gpt_leaf_via(d, &gt(d)->window_dir, op->host_addr, false); /* NULL: no leaf table yet */
    if (pte && *pte)
        return GNTST_bad_virt_addr; /* in use */
    struct maptrack_entry *e;
    uint32_t h = mt_alloc(d, &e);
    if (h == MT_NONE)
        return GNTST_no_space;
    bool ro = op->flags & GNTMAP_readonly;
    mfn_t mfn;
    st = pin(g, d, op->ref, ro, &mfn);
    if (st == GNTST_okay && !pte && !(pte = gpt_leaf_via(d, &gt(d)->window_dir, op->host_addr, true))) {
        unpin(g, op->ref, ro);
        st = GNTST_no_space; /* no memory for a page table */
    }
    if (st != GNTST_okay) {
        mt_free_call(d, h, e);
        return st;
    }
    gpt_set_leaf(pte, mfn, (ro ? 0 : MAP_WRITABLE) | MAP_NOEXEC);
    e->ref = op->ref;
    e->dom = g->domid;
    e->flags = ro ? MT_INUSE | MT_READONLY : MT_INUSE; /* mt_alloc's MT_INUSE, stored with the rest */
    e->mfn = (uint32_t)mfn;
    e->leaf_table = (uint32_t)gpt_leaf_table(pte);
    e->host_page = (uint32_t)((op->host_addr - GUEST_GRANT_VA) >> PAGE_SHIFT);
    e->granter_incarnation = g->incarnation;
    e->granter_slot = (uint8_t)domain_slot(g);
    op->handle = h;
    d->meter.grant_maps++;
    /* The mapping's own reference: the page outlives a granter that dies while it is mapped.
     * Taken last, when nothing else is left to keep across the call; the order is not seen from
     * outside (the hypervisor lock is held, and only a holder frees a frame). */
    frame_get(mfn);
    return GNTST_okay;
}

/* The first half of taking a live mapping down: its PTE gone and the TLB flushed, before anything
 * the mapping held (its pin, its frame reference) is let go. */
static inline __attribute__((always_inline)) void unmap_leaf(struct domain *d, const struct maptrack_entry *e)
{
    vaddr_t va = GUEST_GRANT_VA + ((uint64_t)e->host_page << PAGE_SHIFT);
    uint64_t *pte = gpt_leaf_in(e->leaf_table, e->host_page); /* the map's leaf, with no walk */
    if (*pte)
        gpt_clear_leaf(d, pte, va);
}

/* The second half: the pin and the frame reference dropped. g is the mapping's live_granter (NULL:
 * the granter is gone, and its pins with it). */
static inline __attribute__((always_inline)) void release(const struct maptrack_entry *e, struct domain *g)
{
    if (g)
        unpin(g, e->ref, e->flags & MT_READONLY);
    frame_put(e->mfn);
}

/* Takes a live mapping down: PTE gone, TLB flushed, pin and frame reference dropped, once. */
static inline __attribute__((always_inline)) void teardown_of(struct domain *d, struct maptrack_entry *e,
                                                              struct domain *g)
{
    unmap_leaf(d, e);
    release(e, g);
}

static void teardown(struct domain *d, struct maptrack_entry *e) { teardown_of(d, e, live_granter(e)); }

/* One unmap element (copied in); its status. */
static int16_t unmap_one(struct domain *d, const struct gnttab_unmap_grant_ref *op)
{
    uint32_t h;
    struct maptrack_entry *e = mt_lookup(d, op->handle, &h);
    if (!e)
        return GNTST_bad_handle;
    int16_t st = GNTST_revoked; /* already torn down by the hypervisor: only the handle is left */
    if (!(e->flags & MT_REVOKED)) {
        if (op->host_addr && op->host_addr != GUEST_GRANT_VA + ((uint64_t)e->host_page << PAGE_SHIFT))
            return GNTST_general_error;
        /* The teardown inline, its granter found after the flush: then it needs no register kept
         * across the flush's (rare) call to the other CPUs. */
        unmap_leaf(d, e);
        release(e, live_granter(e));
        st = GNTST_okay;
    }
    mt_free(d, h, e);
    return st;
}

/* gnttab_for_each_mapping's walk, for a mapper that holds mappings: a sweep calls it for every
 * live domain, most of them holding none, which then cost a test and no frame. */
static noinline void for_each_listed(struct domain *mapper,
                                                      bool (*fn)(struct domain *mapper, grant_handle_t h,
                                                                 struct domain *granter, void *ctx),
                                                      void *ctx)
{
    struct domain *last = NULL; /* a mapper's mappings are mostly of one granter's pages */
    for (uint32_t h = gt(mapper)->mt_used; h != MT_NONE;) {
        struct maptrack_entry *e = mt_entry(mapper, h);
        uint32_t next = e->next;
        /* Nobody dies during the walk (fn revokes, never destroys): the last live granter
         * found is still live, and its id and incarnation name it. */
        struct domain *g = last && e->dom == last->domid && e->granter_incarnation == last->incarnation
                               ? last
                               : live_granter(e);
        last = g ? g : last;
        if (!(e->flags & MT_REVOKED) && g && fn(mapper, h, g, ctx)) {
            teardown_of(mapper, e, g);
            e->flags |= MT_REVOKED; /* it stays listed until the mapper's unmap learns of it */
        }
        h = next;
    }
}

void gnttab_for_each_mapping(struct domain *mapper,
                             bool (*fn)(struct domain *mapper, grant_handle_t h, struct domain *granter, void *ctx),
                             void *ctx)
{
    if (gt(mapper)->mt_used != MT_NONE)
        for_each_listed(mapper, fn, ctx);
}

/* ---- setup_table / query_size ---- */

static int16_t setup_table(struct domain *d, struct gnttab_setup_table *op)
{
    int16_t st;
    struct domain *t = named(d, op->dom, &st);
    if (!t)
        return st;
    /*
     * Registering frames in another domain's table makes that domain's RAM be read as grant
     * entries: a privileged act (Xen: XSM_TARGET), not just sharing.
     */
    int rc = xsm_grant_setup(d, t);
    if (rc)
        return status_of(rc);
    struct grant_table *g = gt(t);
    if (op->nr_frames > g->max_frames || op->nr_frames < g->nr_frames || op->nr_frames == 0)
        return GNTST_general_error;
    uint64_t pfns[GNTTAB_MAX_FRAMES];
    if (copy_from_guest(pfns, op->frame_list, op->nr_frames * sizeof(pfns[0])))
        return GNTST_bad_virt_addr;
    mfn_t mfns[GNTTAB_MAX_FRAMES];
    for (uint32_t i = 0; i < op->nr_frames; i++) {
        mfns[i] = writable_pfn_to_mfn(t, pfns[i]); /* the hypervisor writes GTF bits there */
        if (mfns[i] == INVALID_MFN)
            return GNTST_bad_page;
        if (i < g->nr_frames && mfns[i] != g->frames[i])
            return GNTST_general_error; /* growing: the frames already registered stay as they are */
        for (uint32_t j = 0; j < i; j++)
            if (mfns[j] == mfns[i])
                return GNTST_general_error;
    }
    /* The frames count against the table owner's labels; then every new active page is
     * allocated first, so a failure changes nothing. */
    if (!quota_take(t, QUOTA_GRANT_FRAMES, op->nr_frames - g->nr_frames))
        return GNTST_no_space;
    struct active_grant *fresh[GNTTAB_MAX_FRAMES] = {0};
    for (uint32_t i = g->nr_frames; i < op->nr_frames; i++) {
        fresh[i] = alloc_hv_page(t);
        if (!fresh[i]) {
            for (uint32_t j = g->nr_frames; j < i; j++)
                free_hv_page(t, fresh[j]);
            quota_give(t, QUOTA_GRANT_FRAMES, op->nr_frames - g->nr_frames);
            return GNTST_no_space;
        }
    }
    for (uint32_t i = g->nr_frames; i < op->nr_frames; i++) {
        g->frames[i] = mfns[i];
        g->active[i] = fresh[i];
        frame_get(mfns[i]); /* the table frame is pinned while registered */
    }
    g->nr_frames = op->nr_frames;
    return GNTST_okay;
}

static int16_t query_size(struct domain *d, struct gnttab_query_size *op)
{
    int16_t st;
    struct domain *t = named(d, op->dom, &st);
    if (!t)
        return st;
    int rc = xsm_grant_query(d, t);
    if (rc)
        return status_of(rc);
    op->nr_frames = gt(t)->nr_frames;
    op->max_nr_frames = gt(t)->max_frames;
    return GNTST_okay;
}

/* ---- copy ---- */

/* Resolves one side of a copy: a grant ref of another domain (pinned while copying) or our PFN. */
static int16_t copy_side(struct domain *d, const struct gnttab_copy_ptr *p, bool is_ref, bool write,
                         struct domain **granter, mfn_t *mfn)
{
    *granter = NULL; /* both out-parameters are set on every path */
    *mfn = INVALID_MFN;
    if (!is_ref) {
        if (p->domid != DOMID_SELF && p->domid != d->domid)
            return GNTST_permission_denied;
        *mfn = write ? writable_pfn_to_mfn(d, p->u.gmfn) : domain_pfn_to_mfn(d, p->u.gmfn);
        return *mfn == INVALID_MFN ? GNTST_bad_page : GNTST_okay;
    }
    int16_t st;
    struct domain *g = named(d, p->domid, &st);
    if (!g)
        return st;
    int rc = xsm_grant_copy(d, g);
    if (rc)
        return status_of(rc);
    st = pin(g, d, p->u.ref, !write, mfn);
    if (st == GNTST_okay) {
        frame_get(*mfn); /* held while copying, as a mapping holds its own */
        *granter = g;
    }
    return st;
}

static void copy_one(struct domain *d, struct gnttab_copy *op)
{
    if ((uint32_t)op->source.offset + op->len > PAGE_SIZE || (uint32_t)op->dest.offset + op->len > PAGE_SIZE) {
        op->status = GNTST_bad_copy_arg;
        return;
    }
    struct domain *sg, *dg;
    mfn_t smfn, dmfn;
    int16_t st = copy_side(d, &op->source, op->flags & GNTCOPY_source_gref, false, &sg, &smfn);
    if (st != GNTST_okay) {
        op->status = st;
        return;
    }
    st = copy_side(d, &op->dest, op->flags & GNTCOPY_dest_gref, true, &dg, &dmfn);
    if (st == GNTST_okay) {
        memmove((uint8_t *)mfn_to_virt(dmfn) + op->dest.offset, (uint8_t *)mfn_to_virt(smfn) + op->source.offset,
                op->len);
        d->meter.grant_copies++;
        d->meter.grant_copy_bytes += op->len;
    }
    if (dg) {
        unpin(dg, op->dest.u.ref, false);
        frame_put(dmfn);
    }
    if (sg) {
        unpin(sg, op->source.u.ref, true);
        frame_put(smfn);
    }
    op->status = st;
}

/* ---- death ---- */

void gnttab_destroy(struct domain *d)
{
    struct grant_table *t = gt(d);
    /* As a mapper: every mapping goes, and each granter's GTF bits drop with it. */
    while (t->mt_used != MT_NONE) {
        uint32_t h = t->mt_used;
        struct maptrack_entry *e = mt_entry(d, h);
        if (!(e->flags & MT_REVOKED))
            teardown(d, e);
        mt_free(d, h, e);
    }
    for (unsigned p = 0; p < MAPTRACK_PAGES; p++)
        if (t->maptrack[p])
            free_hv_page(d, t->maptrack[p]);
    /* As a granter: pages others still map keep their own references (frame_release_owned). */
    for (uint32_t i = 0; i < t->nr_frames; i++) {
        frame_put(t->frames[i]);
        free_hv_page(d, t->active[i]);
    }
    quota_give(d, QUOTA_GRANT_FRAMES, t->nr_frames);
    memset(t, 0, sizeof(*t));
    t->mt_free = t->mt_used = MT_NONE;
    t->ram_dir = t->window_dir = GPT_DIR_UNKNOWN; /* the mapper's page tables go next (gpt_destroy) */
}

/* ---- the hypercall ---- */

/* Every element type of a batch: one buffer on the stack whatever the op. Each is copied as
 * whole 8-byte words (copy_elem_from_guest). */
_Static_assert(sizeof(struct gnttab_map_grant_ref) % 8 == 0 && sizeof(struct gnttab_unmap_grant_ref) % 8 == 0 &&
                   sizeof(struct gnttab_copy) % 8 == 0 && sizeof(struct gnttab_setup_table) % 8 == 0 &&
                   sizeof(struct gnttab_query_size) % 8 == 0,
               "grant op elements are whole words");
/* Where each op's outputs begin: a map's (status, handle, dev_bus_addr), an unmap's, a copy's and
 * a setup's (status) and a query's (nr_frames, max_nr_frames, status) are each in the element's
 * last words, with at most inputs beside them in the same words (written back as read). Only
 * those words are copied back, as Xen copies back only the outputs. */
#define MAP_OUT (offsetof(struct gnttab_map_grant_ref, status) & ~7ul)
#define UNMAP_OUT (offsetof(struct gnttab_unmap_grant_ref, status) & ~7ul)
#define COPY_OUT (offsetof(struct gnttab_copy, status) & ~7ul)
#define SETUP_OUT (offsetof(struct gnttab_setup_table, status) & ~7ul)
#define QUERY_OUT (offsetof(struct gnttab_query_size, nr_frames) & ~7ul)
_Static_assert(MAP_OUT == 16 && UNMAP_OUT == 16 && COPY_OUT == 32 && SETUP_OUT == 8 && QUERY_OUT == 0,
               "the outputs' words");
_Static_assert(offsetof(struct gnttab_query_size, max_nr_frames) >= QUERY_OUT &&
                   offsetof(struct gnttab_query_size, status) >= QUERY_OUT,
               "a query's outputs");
_Static_assert(offsetof(struct gnttab_map_grant_ref, handle) >= MAP_OUT &&
                   offsetof(struct gnttab_map_grant_ref, dev_bus_addr) >= MAP_OUT,
               "a map's outputs");
union gnttab_elem {
    struct gnttab_map_grant_ref map;
    struct gnttab_unmap_grant_ref unmap;
    struct gnttab_copy copy;
    struct gnttab_setup_table setup;
    struct gnttab_query_size query;
};

/*
 * One element of size bytes at uop: copied in whole, done (each op writes its status into the
 * element), and its words from byte `out` on (the ones holding its outputs) copied back.
 */
static inline __attribute__((always_inline)) long one_elem(struct domain *d, uint64_t uop, size_t size, size_t out,
                                                           void (*op)(struct domain *d, union gnttab_elem *e))
{
    union gnttab_elem e;
    /* size and out are each case's constants: the element's words are copied inline */
    if (copy_elem_from_guest(&e, uop, size))
        return -XEN_EFAULT;
    op(d, &e);
    if (copy_elem_to_guest(uop + out, (const uint8_t *)&e + out, size - out))
        return -XEN_EFAULT;
    return 0;
}

static void map_elem(struct domain *d, union gnttab_elem *e) { e->map.status = map_one(d, &e->map); }
static void unmap_elem(struct domain *d, union gnttab_elem *e) { e->unmap.status = unmap_one(d, &e->unmap); }
static void copy_elem(struct domain *d, union gnttab_elem *e) { copy_one(d, &e->copy); }
static void setup_elem(struct domain *d, union gnttab_elem *e) { e->setup.status = setup_table(d, &e->setup); }
static void query_elem(struct domain *d, union gnttab_elem *e) { e->query.status = query_size(d, &e->query); }

/*
 * A batch, any count but 1: its elements one at a time, each a call of do_grant_table_op with a
 * count of 1, the one way an element is done. A bad element address ends the batch with -EFAULT;
 * the elements before it are done and reported.
 */
static noinline long batch(uint64_t cmd, uint64_t uop, uint64_t count)
{
    if (count > GNTTAB_MAX_BATCH)
        return -XEN_EINVAL;
    size_t size;
    switch (cmd) {
    case GNTTABOP_map_grant_ref: size = sizeof(struct gnttab_map_grant_ref); break;
    case GNTTABOP_unmap_grant_ref: size = sizeof(struct gnttab_unmap_grant_ref); break;
    case GNTTABOP_copy: size = sizeof(struct gnttab_copy); break;
    case GNTTABOP_setup_table: /* one element only */
    case GNTTABOP_query_size: return -XEN_EINVAL;
    default: return -XEN_ENOSYS;
    }
    for (uint64_t i = 0; i < count; i++) {
        long rc = do_grant_table_op(cmd, uop + i * size, 1, 0, 0);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * One element (a count of 1: nearly every call) is done here with no loop around it: the batch
 * loop's set-up and its end test were a tenth of a map. Any other count goes to batch, a tail
 * call made before this function's frame is built.
 */
long do_grant_table_op(uint64_t cmd, uint64_t uop, uint64_t count, uint64_t a4, uint64_t a5)
{
    (void)a4, (void)a5;
    if (__builtin_expect(count != 1, 0))
        return batch(cmd, uop, count);
    struct domain *d = current_domain();
    /* A map and an unmap tested first, each with one compare: the figure's pair and most calls. */
    if (cmd == GNTTABOP_map_grant_ref)
        return one_elem(d, uop, sizeof(struct gnttab_map_grant_ref), MAP_OUT, map_elem);
    if (cmd == GNTTABOP_unmap_grant_ref)
        return one_elem(d, uop, sizeof(struct gnttab_unmap_grant_ref), UNMAP_OUT, unmap_elem);
    switch (cmd) {
    case GNTTABOP_copy: return one_elem(d, uop, sizeof(struct gnttab_copy), COPY_OUT, copy_elem);
    case GNTTABOP_setup_table: return one_elem(d, uop, sizeof(struct gnttab_setup_table), SETUP_OUT, setup_elem);
    case GNTTABOP_query_size: return one_elem(d, uop, sizeof(struct gnttab_query_size), QUERY_OUT, query_elem);
    default: return -XEN_ENOSYS;
    }
}
