// SPDX-License-Identifier: MIT
// Grant tables from the guest's side: the table in our own pages, refs, Xen's publish and
// end-access rules, a page allocator for the grant window, and op wrappers (moat/gnttab.h).
#include <moat/gnttab.h>
#include <moat/guest.h>

#define MAX_ENTRIES (GNTTAB_MAX_FRAMES * GNTTAB_ENTRIES_PER_FRAME)
#define END_TRIES 64 /* the hypervisor changes only its two bits; a few retries always suffice */

static struct grant_entry_v1 *table;
static unsigned table_frames, table_room;
static uint64_t ref_used[MAX_ENTRIES / 64];
static uint64_t va_used[GNTTAB_VA_PAGES / 64];
static unsigned va_hint;

uint64_t gnttab_pfn_of(const void *page) { return ((uint64_t)(uintptr_t)page - GUEST_RAM_VA) / GUEST_PAGE_SIZE; }

void *gnttab_va_of_pfn(uint64_t pfn) { return (void *)(uintptr_t)(GUEST_RAM_VA + pfn * GUEST_PAGE_SIZE); }

static int16_t register_frames(unsigned nr)
{
    uint64_t pfns[GNTTAB_MAX_FRAMES];
    for (unsigned i = 0; i < nr; i++)
        pfns[i] = gnttab_pfn_of((const uint8_t *)table + (uint64_t)i * GUEST_PAGE_SIZE);
    struct gnttab_setup_table op = { .dom = DOMID_SELF, .nr_frames = nr, .frame_list = (uint64_t)(uintptr_t)pfns };
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &op, 1);
    if (rc < 0)
        return GNTST_general_error;
    if (op.status == GNTST_okay)
        table_frames = nr;
    return op.status;
}

int16_t gnttab_setup(void *pages, unsigned nr_frames, unsigned room)
{
    if (((uintptr_t)pages & (GUEST_PAGE_SIZE - 1)) || nr_frames == 0 || nr_frames > room ||
        room > GNTTAB_MAX_FRAMES || table)
        return GNTST_general_error;
    // Zero first: the hypervisor may read any entry as soon as the frame is registered.
    memset(pages, 0, (size_t)nr_frames * GUEST_PAGE_SIZE);
    table = pages;
    table_room = room;
    int16_t st = register_frames(nr_frames);
    if (st != GNTST_okay)
        table = NULL;
    return st;
}

int16_t gnttab_grow(unsigned nr_frames)
{
    if (!table || nr_frames > table_room || nr_frames < table_frames)
        return GNTST_general_error;
    memset((uint8_t *)table + (size_t)table_frames * GUEST_PAGE_SIZE, 0,
           (size_t)(nr_frames - table_frames) * GUEST_PAGE_SIZE);
    return register_frames(nr_frames);
}

unsigned gnttab_nr_entries(void) { return table_frames * GNTTAB_ENTRIES_PER_FRAME; }

struct grant_entry_v1 *gnttab_entry(grant_ref_t ref) { return ref < gnttab_nr_entries() ? &table[ref] : NULL; }

int16_t gnttab_query_size(domid_t dom, uint32_t *nr_frames, uint32_t *max_frames)
{
    struct gnttab_query_size op = { .dom = dom };
    if (HYPERVISOR_grant_table_op(GNTTABOP_query_size, &op, 1) < 0)
        return GNTST_general_error;
    if (nr_frames)
        *nr_frames = op.nr_frames;
    if (max_frames)
        *max_frames = op.max_nr_frames;
    return op.status;
}

/* ---- refs ---- */

grant_ref_t gnttab_alloc_ref(void)
{
    for (grant_ref_t r = GNTTAB_NR_RESERVED_ENTRIES; r < gnttab_nr_entries(); r++) {
        if (!(ref_used[r / 64] & (1ull << (r % 64)))) {
            ref_used[r / 64] |= 1ull << (r % 64);
            return r;
        }
    }
    return GNTTAB_INVALID_REF;
}

bool gnttab_claim_ref(grant_ref_t ref)
{
    if (ref >= gnttab_nr_entries() || (ref_used[ref / 64] & (1ull << (ref % 64))))
        return false;
    ref_used[ref / 64] |= 1ull << (ref % 64);
    return true;
}

void gnttab_free_ref(grant_ref_t ref)
{
    if (ref < MAX_ENTRIES)
        ref_used[ref / 64] &= ~(1ull << (ref % 64));
}

void gnttab_grant_ref(grant_ref_t ref, domid_t domid, uint64_t pfn, bool readonly)
{
    struct grant_entry_v1 *e = gnttab_entry(ref);
    if (!e)
        return;
    e->domid = domid;
    e->frame = (uint32_t)pfn;
    // The hypervisor trusts the entry once the type says permit_access: everything else first.
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&e->flags, (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0)), __ATOMIC_RELEASE);
}

grant_ref_t gnttab_grant_access(domid_t domid, const void *page, bool readonly)
{
    grant_ref_t ref = gnttab_alloc_ref();
    if (ref != GNTTAB_INVALID_REF)
        gnttab_grant_ref(ref, domid, gnttab_pfn_of(page), readonly);
    return ref;
}

bool gnttab_end_access(grant_ref_t ref)
{
    struct grant_entry_v1 *e = gnttab_entry(ref);
    if (!e)
        return false;
    uint16_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
    for (int i = 0; i < END_TRIES; i++) {
        if (flags & (GTF_reading | GTF_writing))
            return false; /* mapped or being copied: the page is not ours to reuse yet */
        // A failed exchange reloads flags: the hypervisor set a bit between our read and now.
        if (__atomic_compare_exchange_n(&e->flags, &flags, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return true;
    }
    return false;
}

bool gnttab_end_access_free(grant_ref_t ref)
{
    if (!gnttab_end_access(ref))
        return false;
    gnttab_free_ref(ref);
    return true;
}

bool gnttab_make_readonly(grant_ref_t ref)
{
    struct grant_entry_v1 *e = gnttab_entry(ref);
    if (!e)
        return false;
    uint16_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
    for (int i = 0; i < END_TRIES; i++) {
        if (flags & GTF_writing)
            return false;
        if (__atomic_compare_exchange_n(&e->flags, &flags, (uint16_t)(flags | GTF_readonly), false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return true;
    }
    return false;
}

uint16_t gnttab_flags(grant_ref_t ref)
{
    struct grant_entry_v1 *e = gnttab_entry(ref);
    return e ? __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) : 0;
}

/* ---- the grant window ---- */

uint64_t gnttab_va_alloc(void)
{
    for (unsigned n = 0; n < GNTTAB_VA_PAGES; n++) {
        unsigned i = (va_hint + n) % GNTTAB_VA_PAGES;
        if (!(va_used[i / 64] & (1ull << (i % 64)))) {
            va_used[i / 64] |= 1ull << (i % 64);
            va_hint = i + 1;
            return GUEST_GRANT_VA + (uint64_t)i * GUEST_PAGE_SIZE;
        }
    }
    return 0;
}

void gnttab_va_free(uint64_t va)
{
    uint64_t i = (va - GUEST_GRANT_VA) / GUEST_PAGE_SIZE;
    if (va >= GUEST_GRANT_VA && i < GNTTAB_VA_PAGES) {
        va_used[i / 64] &= ~(1ull << (i % 64));
        if (i < va_hint)
            va_hint = (unsigned)i;
    }
}

/* ---- ops ---- */

static int16_t copy_one(struct gnttab_copy *op)
{
    if (HYPERVISOR_grant_table_op(GNTTABOP_copy, op, 1) < 0)
        return GNTST_general_error;
    return op->status;
}

static struct gnttab_copy_ptr own(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return (struct gnttab_copy_ptr){ .u.gmfn = gnttab_pfn_of(p), .domid = DOMID_SELF,
                                     .offset = (uint16_t)(a & (GUEST_PAGE_SIZE - 1)) };
}

int16_t gnttab_copy_from_ref(domid_t dom, grant_ref_t ref, uint16_t offset, void *dst, uint16_t len)
{
    struct gnttab_copy op = { .source = { .u.ref = ref, .domid = dom, .offset = offset }, .dest = own(dst),
                              .len = len, .flags = GNTCOPY_source_gref };
    return copy_one(&op);
}

int16_t gnttab_copy_to_ref(domid_t dom, grant_ref_t ref, uint16_t offset, const void *src, uint16_t len)
{
    struct gnttab_copy op = { .source = own(src), .dest = { .u.ref = ref, .domid = dom, .offset = offset },
                              .len = len, .flags = GNTCOPY_dest_gref };
    return copy_one(&op);
}

static long batch(unsigned cmd, void *ops, size_t size, unsigned n)
{
    for (unsigned done = 0; done < n;) {
        unsigned chunk = n - done < GNTTAB_MAX_BATCH ? n - done : GNTTAB_MAX_BATCH;
        long rc = HYPERVISOR_grant_table_op(cmd, (uint8_t *)ops + (size_t)done * size, chunk);
        if (rc < 0)
            return rc;
        done += chunk;
    }
    return 0;
}

long gnttab_map_batch(struct gnttab_map_grant_ref *ops, unsigned n)
{
    return batch(GNTTABOP_map_grant_ref, ops, sizeof(*ops), n);
}

long gnttab_unmap_batch(struct gnttab_unmap_grant_ref *ops, unsigned n)
{
    return batch(GNTTABOP_unmap_grant_ref, ops, sizeof(*ops), n);
}

long gnttab_copy_batch(struct gnttab_copy *ops, unsigned n) { return batch(GNTTABOP_copy, ops, sizeof(*ops), n); }

const char *gnttab_status_name(int16_t status)
{
    static const char *const names[] = {
        "okay", "general_error", "bad_domain", "bad_gntref", "bad_handle", "bad_virt_addr", "bad_dev_addr",
        "no_device_space", "permission_denied", "bad_page", "bad_copy_arg", "address_too_big", "eagain", "no_space",
    };
    if (status == GNTST_revoked)
        return "revoked";
    if (status <= 0 && -status < (int)ARRAY_SIZE(names))
        return names[-status];
    return "?";
}
