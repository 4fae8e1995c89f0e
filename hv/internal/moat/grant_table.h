/* SPDX-License-Identifier: MIT */
/* Grant tables inside the hypervisor (core/grant_table.c). */
#ifndef MOAT_GRANT_TABLE_H
#define MOAT_GRANT_TABLE_H

#include <moat/frame.h>
#include <moat/types.h>
#include <public/grant_table.h>

struct domain;

/*
 * The hypervisor's own copy of a pinned entry: the guest's entry cannot change what it says. Its
 * fields are one word too, which a first pin writes whole (grant_table.c's active_word): one
 * store, where the fields were four.
 */
struct active_grant {
    union {
        struct {
            uint8_t ro_pins;  /* read-only mappings and copies in progress, at most 127 */
            uint8_t rw_pins;  /* writable ones, at most 127 (whole bytes: a pin is one increment) */
            domid_t domid;    /* who pinned it */
            uint32_t frame;   /* what it granted (mfn << 1, resolved once at the first pin), and in
                               * bit 0 whether the entry was read-only at the first pin */
        };
        uint64_t word;
    };
};
_Static_assert(sizeof(struct active_grant) == 8, "512 active entries a page, as the table's entries");

#define MAPTRACK_PER_PAGE (PAGE_SIZE / 32)
#define MAPTRACK_PAGES (GNTTAB_MAPTRACK_MAX / MAPTRACK_PER_PAGE)

/* One mapping a domain holds; the handle is its index. */
struct maptrack_entry {
    uint32_t ref;
    domid_t dom;              /* granter */
    uint8_t flags;            /* MT_* */
    uint8_t granter_slot;     /* the granter's domain slot (domain_slot): found again without an id look-up */
    uint32_t next, prev;      /* free list, or the in-use list (revocation walks only that) */
    uint32_t mfn;             /* the frame mapped (32 bits hold every frame: grant_table.c) */
    uint32_t host_page;       /* page index inside the grant window */
    uint32_t granter_incarnation; /* the granter's domid may be reused after it dies */
    uint32_t leaf_table;      /* the frame of the page table holding the mapping's leaf (lives until
                               * the mapper's page tables go, after its mappings): no walk to it */
};

struct grant_table {
    uint32_t nr_frames, max_frames;
    mfn_t frames[GNTTAB_MAX_FRAMES];                 /* the granter's table frames */
    struct active_grant *active[GNTTAB_MAX_FRAMES];  /* one hypervisor page per table frame */
    struct maptrack_entry *maptrack[MAPTRACK_PAGES]; /* allocated a page at a time */
    uint32_t mt_free, mt_used, mt_count;
    /* Remembered page directories (gpt_leaf_via; GPT_DIR_UNKNOWN until found): the one over the
     * domain's first GiB of RAM, where a pin finds a granted PFN's leaf, and the grant window's,
     * where a map finds its leaf; each a fixed address in one 1 GiB region: two loads, not a
     * page walk. */
    uint64_t *ram_dir, *window_dir;
};

void gnttab_init(struct domain *d, uint32_t max_frames);
/* Releases every mapping the domain holds (as mapper) and its table state (as granter). */
void gnttab_destroy(struct domain *d);
/* Calls fn for every live (not revoked) mapping the mapper holds; a mapping fn returns true
 * for is revoked there and then (forced revocation: torn down, its handle kept until the
 * mapper's unmap learns GNTST_revoked). */
void gnttab_for_each_mapping(struct domain *mapper,
                             bool (*fn)(struct domain *mapper, grant_handle_t h, struct domain *granter, void *ctx),
                             void *ctx);
long do_grant_table_op(uint64_t cmd, uint64_t uop, uint64_t count, uint64_t a4, uint64_t a5);

#endif
