// SPDX-License-Identifier: MIT
// part=deny: the MAC policy lets us share nothing with the peer (no common STE type). Map and
// copy are refused with permission_denied and leave nothing behind: no page table entry (our own
// grant maps at the same address afterwards) and no maptrack slot (it gets handle 0).
#include "client.h"

static uint8_t own_table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t own_page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t buf[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));

void part_deny(domid_t peer)
{
    uint64_t va = gnt_va();
    grant_handle_t h = 0xdead;
    /* Give the peer time to publish: a denial must not depend on whether it has. */
    sleep_ns(50 * NS_PER_MS);
    for (grant_ref_t ref = GNT_CTL_REF; ref < GNT_DATA_REF + 4; ref++) {
        xtf_check_eq(gnttab_map(peer, ref, va, false, &h), GNTST_permission_denied);
        xtf_check_eq(gnttab_map(peer, ref, va, true, &h), GNTST_permission_denied);
        xtf_check_eq(gnttab_copy_from_ref(peer, ref, 0, buf, 16), GNTST_permission_denied);
        xtf_check_eq(gnttab_copy_to_ref(peer, ref, 0, buf, 16), GNTST_permission_denied);
    }
    xtf_check_eq(gnttab_query_size(peer, NULL, NULL), GNTST_permission_denied);
    struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = peer };
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op), -XEN_EACCES);
    /* Nothing was installed: the address is free and the first handle is still 0. */
    xtf_check_eq(gnttab_setup(own_table, 1, 1), GNTST_okay);
    grant_ref_t ref = gnttab_grant_access(start_info->domid, own_page, false);
    xtf_check_eq(gnttab_map(DOMID_SELF, ref, va, false, &h), GNTST_okay);
    xtf_check_eq(h, 0);
    *(volatile uint32_t *)va = 0x5eed;
    xtf_check_eq(*(volatile uint32_t *)own_page, 0x5eed);
    xtf_check_eq(gnttab_unmap(h, va), GNTST_okay);
    xtf_check(gnttab_end_access_free(ref), "end access");
    printf("denials checked\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
