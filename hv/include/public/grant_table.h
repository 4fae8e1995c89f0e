/* SPDX-License-Identifier: MIT */
/*
 * grant_table_op(cmd, uop, count): Xen's v1 grant tables. Entries, op numbers, structures and
 * GNTST_* codes follow Xen; each element of a batch gets its own status, and the call itself
 * returns 0, -EINVAL (bad count or cmd), -EFAULT or -ENOSYS. Deviations from Xen:
 *  - setup_table takes the table's frames FROM the guest: frame_list names the guest's own PFNs
 *    that hold the table (guests never see machine frames). Calling it again with more frames
 *    grows the table; the frames already registered must be named again, in the same order.
 *  - An entry's `frame` is the granter's own PFN. As with Xen's writable page type, a writable
 *    grant, a setup_table frame and a copy destination named by PFN must be pages their owner
 *    itself may write (not its read-only code or data): else general_error / bad_page.
 *  - map_grant_ref maps only into the grant window [GUEST_GRANT_VA, + GUEST_GRANT_SIZE): host_addr
 *    must be a page-aligned, currently unused address there (else GNTST_bad_virt_addr);
 *    device_map is not supported (GNTST_general_error).
 *  - Forced revocation: the hypervisor may take a mapping away at any time (the MAC policy changed).
 *    The page disappears from the mapper's address space (touching it faults), the granter's
 *    GTF_reading/GTF_writing drop as if unmapped, and the mapper's later unmap of that handle
 *    returns GNTST_revoked and frees the handle.
 *  - copy, and setup_table/query_size on a foreign domain, are MAC-checked too (Xen never
 *    mediated them): GNTST_permission_denied.
 */
#ifndef MOAT_PUBLIC_GRANT_TABLE_H
#define MOAT_PUBLIC_GRANT_TABLE_H

#include "hv.h"

typedef uint32_t grant_ref_t;
typedef uint32_t grant_handle_t;

struct grant_entry_v1 {
    uint16_t flags;
    domid_t domid;  /* the domain allowed to map or copy it */
    uint32_t frame; /* the granter's PFN */
};

#define GNTTAB_ENTRIES_PER_FRAME (GUEST_PAGE_SIZE / sizeof(struct grant_entry_v1))
#define GNTTAB_NR_RESERVED_ENTRIES 8 /* refs 0-7 are reserved, as in Xen */
#define GNTTAB_DEFAULT_MAX_FRAMES 4
#define GNTTAB_MAX_FRAMES 64
#define GNTTAB_MAPTRACK_MAX 1024     /* mappings one domain can hold at once */
#define GNTTAB_MAX_BATCH 4096

#define GTF_invalid 0
#define GTF_permit_access 1
#define GTF_accept_transfer 2
#define GTF_type_mask 3
#define GTF_readonly (1u << 2)
#define GTF_reading (1u << 3) /* set by the hypervisor while mapped or copied from */
#define GTF_writing (1u << 4) /* set by the hypervisor while mapped writable or copied to */

#define GNTTABOP_map_grant_ref 0
#define GNTTABOP_unmap_grant_ref 1
#define GNTTABOP_setup_table 2
#define GNTTABOP_copy 5
#define GNTTABOP_query_size 6

#define GNTMAP_device_map (1u << 0)
#define GNTMAP_host_map (1u << 1)
#define GNTMAP_readonly (1u << 2)

#define GNTST_okay 0
#define GNTST_general_error (-1)
#define GNTST_bad_domain (-2)
#define GNTST_bad_gntref (-3)
#define GNTST_bad_handle (-4)
#define GNTST_bad_virt_addr (-5)
#define GNTST_bad_dev_addr (-6)
#define GNTST_no_device_space (-7)
#define GNTST_permission_denied (-8)
#define GNTST_bad_page (-9)
#define GNTST_bad_copy_arg (-10)
#define GNTST_address_too_big (-11)
#define GNTST_eagain (-12)
#define GNTST_no_space (-13)
#define GNTST_revoked (-20) /* moat: the mapping was revoked by the hypervisor */

struct gnttab_map_grant_ref {
    uint64_t host_addr;     /* IN */
    uint32_t flags;         /* IN: GNTMAP_* */
    grant_ref_t ref;        /* IN */
    domid_t dom;            /* IN: the granter */
    int16_t status;         /* OUT */
    grant_handle_t handle;  /* OUT */
    uint64_t dev_bus_addr;  /* OUT: always 0 */
};

struct gnttab_unmap_grant_ref {
    uint64_t host_addr;     /* IN: 0, or the address it was mapped at */
    uint64_t dev_bus_addr;  /* IN: ignored */
    grant_handle_t handle;  /* IN */
    int16_t status;         /* OUT */
    uint16_t pad;
};

struct gnttab_setup_table {
    domid_t dom;            /* IN */
    uint16_t pad;
    uint32_t nr_frames;     /* IN */
    int16_t status;         /* OUT */
    uint16_t pad2[3];
    uint64_t frame_list;    /* IN: guest pointer to uint64_t[nr_frames], the caller's PFNs */
};

struct gnttab_query_size {
    domid_t dom;            /* IN */
    uint16_t pad;
    uint32_t nr_frames;     /* OUT */
    uint32_t max_nr_frames; /* OUT */
    int16_t status;         /* OUT */
    uint16_t pad2;
};

#define GNTCOPY_source_gref (1u << 0)
#define GNTCOPY_dest_gref (1u << 1)

struct gnttab_copy_ptr {
    union {
        grant_ref_t ref;
        uint64_t gmfn;      /* the caller's own PFN */
    } u;
    domid_t domid;
    uint16_t offset;
    uint32_t pad;
};

struct gnttab_copy {
    struct gnttab_copy_ptr source, dest;
    uint16_t len;
    uint16_t flags;         /* GNTCOPY_* */
    int16_t status;         /* OUT */
    uint16_t pad;
};

#endif
