/* SPDX-License-Identifier: MIT */
/*
 * Grant tables from the guest's side (public/grant_table.h has the ABI; docs/grant-tables.md the
 * usage). A domain has one table, kept in pages of its own RAM that it hands to the hypervisor
 * with setup_table; entries name the domain's own PFNs.
 *
 * Granting follows Xen's rules:
 *  - publish: domid and frame first, a write barrier, then the flags (the hypervisor may read
 *    the entry at any moment once the flags say GTF_permit_access);
 *  - end access only with a cmpxchg of the flags to 0 that fails while the hypervisor has
 *    GTF_reading or GTF_writing set (the page is mapped or being copied): never free or reuse a
 *    page whose grant could not be ended;
 *  - downgrade to read-only only while GTF_writing is clear.
 * Refs 0-7 are reserved (GNTTAB_NR_RESERVED_ENTRIES); gnttab_alloc_ref hands out 8 upwards.
 *
 * Mapping goes into the grant window (GUEST_GRANT_VA, public/hv.h); gnttab_va_alloc hands out
 * free pages of the first GNTTAB_VA_PAGES of it. The map/unmap/copy wrappers return the
 * element's GNTST_* status; the *_batch calls pass arrays through in chunks of at most
 * GNTTAB_MAX_BATCH and return the hypercall's own result (0, -EINVAL, -EFAULT).
 */
#ifndef MOAT_GUEST_GNTTAB_H
#define MOAT_GUEST_GNTTAB_H

#include <stdbool.h>
#include <stdint.h>

#include <public/grant_table.h>

#include <moat/hypercall.h>

#define GNTTAB_INVALID_REF 0xffffffffu
#define GNTTAB_VA_PAGES 8192u /* the part of the grant window gnttab_va_alloc manages (32 MiB) */

/* PFN <-> address of the domain's own RAM. */
uint64_t gnttab_pfn_of(const void *page);
void *gnttab_va_of_pfn(uint64_t pfn);

/*
 * Registers the table: `pages` is page-aligned RAM with room for `room` pages, of which the first
 * nr_frames are registered now (zeroed first). Returns the setup_table status (GNTST_*), or
 * GNTST_general_error for bad arguments.
 */
int16_t gnttab_setup(void *pages, unsigned nr_frames, unsigned room);
/* Grows the registered table to nr_frames (within the room given to gnttab_setup). */
int16_t gnttab_grow(unsigned nr_frames);
unsigned gnttab_nr_entries(void);
/* The entry itself (for tests that need to look at or tamper with it); NULL if out of range. */
struct grant_entry_v1 *gnttab_entry(grant_ref_t ref);
int16_t gnttab_query_size(domid_t dom, uint32_t *nr_frames, uint32_t *max_frames);

/* The lowest free ref >= 8, marked in use, or GNTTAB_INVALID_REF when the table is full. */
grant_ref_t gnttab_alloc_ref(void);
/* Marks a particular ref in use (a well-known ref); false if it is taken or out of range. */
bool gnttab_claim_ref(grant_ref_t ref);
/* Gives back a ref whose entry is invalid (never published, or ended). */
void gnttab_free_ref(grant_ref_t ref);
/* Publishes `ref` (allocated by the caller) for domid: the page at PFN pfn. */
void gnttab_grant_ref(grant_ref_t ref, domid_t domid, uint64_t pfn, bool readonly);
/* Allocates a ref and publishes `page` (in our RAM) for domid; GNTTAB_INVALID_REF if full. */
grant_ref_t gnttab_grant_access(domid_t domid, const void *page, bool readonly);
/*
 * Ends the grant: true when the entry went from unused to invalid (the ref stays allocated for
 * the caller: gnttab_free_ref it, or use gnttab_end_access_free), false while the page is mapped
 * or being copied (GTF_reading/GTF_writing set), in which case nothing changed.
 */
bool gnttab_end_access(grant_ref_t ref);
/* gnttab_end_access and, when it worked, gnttab_free_ref. */
bool gnttab_end_access_free(grant_ref_t ref);
/* Turns a writable grant read-only; false (nothing changed) while it is mapped writable. */
bool gnttab_make_readonly(grant_ref_t ref);
/* The entry's flags as the hypervisor left them (GTF_reading / GTF_writing tell use). */
uint16_t gnttab_flags(grant_ref_t ref);

/* One free page of the grant window (0 when none), and giving it back. */
uint64_t gnttab_va_alloc(void);
void gnttab_va_free(uint64_t va);

/*
 * Single-element wrappers: the element's GNTST_* status (a hypercall error reads as general_error);
 * gnttab_map's *handle is set on every path, to 0 when nothing was mapped.
 * Inline: the element is built in the caller's frame and the status read back from it, with no
 * call and no frame of their own (a third of the guest's side of a map and unmap).
 */
static inline int16_t gnttab_map(domid_t dom, grant_ref_t ref, uint64_t va, bool readonly, grant_handle_t *handle)
{
    struct gnttab_map_grant_ref op = {
        .host_addr = va, .flags = GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0), .ref = ref, .dom = dom,
    };
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    if (handle) /* on every path: 0 when nothing was mapped (the element's own, or as built) */
        *handle = op.handle;
    return rc < 0 ? GNTST_general_error : op.status;
}

static inline int16_t gnttab_unmap(grant_handle_t handle, uint64_t va)
{
    struct gnttab_unmap_grant_ref op = { .host_addr = va, .handle = handle };
    if (HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1) < 0)
        return GNTST_general_error;
    return op.status;
}
/* Copies len bytes from granter's ref at offset to our own page at dst_offset, and back. */
int16_t gnttab_copy_from_ref(domid_t dom, grant_ref_t ref, uint16_t offset, void *dst, uint16_t len);
int16_t gnttab_copy_to_ref(domid_t dom, grant_ref_t ref, uint16_t offset, const void *src, uint16_t len);

/* Batches of any length, in chunks of GNTTAB_MAX_BATCH: 0, or the first negative hypercall result. */
long gnttab_map_batch(struct gnttab_map_grant_ref *ops, unsigned n);
long gnttab_unmap_batch(struct gnttab_unmap_grant_ref *ops, unsigned n);
long gnttab_copy_batch(struct gnttab_copy *ops, unsigned n);

/* "okay", "general_error", ... "revoked"; "?" for anything else. */
const char *gnttab_status_name(int16_t status);

#endif
