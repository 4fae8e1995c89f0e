// SPDX-License-Identifier: MIT
// Helpers of the MAC test controller: children, event channels, grants, statistics.
#include "common.h"

#include <public/event_channel.h>

static int peer_image(void)
{
    int i = find_image("mac_peer");
    if (i < 0) {
        xtf_error("Error: image 'mac_peer' is not among the modules\n");
        xtf_exit();
    }
    return i;
}

long child_try(uint32_t ssidref, const char *name, const char *cmdline, domid_t *domid)
{
    struct domctl_create_args a = { .image = (uint32_t)peer_image(), .memory_kib = 256, .ssidref = ssidref,
                                    .name = name, .cmdline = cmdline };
    return domctl_create(&a, domid);
}

long try_create(uint32_t ssidref, const char *name)
{
    domid_t d;
    long rc = child_try(ssidref, name, "mode=sleep", &d);
    if (rc == 0)
        kill(d);
    return rc;
}

domid_t child(uint32_t ssidref, const char *name, const char *cmdline)
{
    domid_t d = DOMID_INVALID;
    long rc = child_try(ssidref, name, cmdline, &d);
    if (rc) {
        xtf_error("Error: creating child '%s' (ssidref %#x) returned %ld\n", name, ssidref, rc);
        xtf_exit();
    }
    return d;
}

void kill(domid_t domid)
{
    long rc = domctl_destroy(domid);
    if (rc)
        xtf_error("Error: destroying domain %u returned %ld\n", domid, rc);
}

bool wait_gone(domid_t domid)
{
    struct moat_domctl_info info;
    uint64_t give_up = now_ns() + 10 * NS_PER_SEC;
    while (domctl_getinfo(domid, &info) == 0)
        if (now_ns() > give_up)
            return false;
        else
            sleep_ns(NS_PER_MS);
    return true;
}

long ev_alloc(domid_t dom, domid_t remote, evtchn_port_t *port)
{
    struct evtchn_alloc_unbound a = { .dom = dom, .remote_dom = remote, .port = 0 };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &a);
    if (port)
        *port = rc ? 0 : a.port;
    return rc;
}

long ev_bind(domid_t remote_dom, evtchn_port_t remote_port, evtchn_port_t *local)
{
    struct evtchn_bind_interdomain b = { .remote_dom = remote_dom, .remote_port = remote_port };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &b);
    if (local)
        *local = rc ? 0 : b.local_port;
    return rc;
}

long ev_status(domid_t dom, evtchn_port_t port, struct evtchn_status *st)
{
    memset(st, 0, sizeof(*st));
    st->dom = dom;
    st->port = port;
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, st);
}

long ev_close(evtchn_port_t port)
{
    struct evtchn_close c = { .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_close, &c);
}

unsigned ev_used(domid_t dom)
{
    /*
     * Channel ports only (unbound or interdomain): what a denied alloc or bind must not leave
     * behind. Not VIRQs: a child binds its timer whenever it first sleeps, which may fall
     * between two counts.
     */
    unsigned n = 0;
    struct evtchn_status st;
    for (evtchn_port_t p = 1; p < 64; p++)
        if (ev_status(dom, p, &st) == 0 && (st.status == EVTCHNSTAT_unbound || st.status == EVTCHNSTAT_interdomain))
            n++;
    return n;
}

evtchn_port_t channel(domid_t peer, evtchn_port_t *peer_port)
{
    evtchn_port_t rp, lp;
    long rc = ev_alloc(peer, SELF, &rp);
    if (rc) {
        xtf_failure("Fail: alloc_unbound(dom=%u, remote=%u) returned %ld\n", peer, SELF, rc);
        xtf_exit();
    }
    rc = ev_bind(peer, rp, &lp);
    if (rc) {
        xtf_failure("Fail: bind_interdomain(%u, %u) returned %ld\n", peer, rp, rc);
        xtf_exit();
    }
    if (peer_port)
        *peer_port = rp;
    return lp;
}

bool ev_pending(evtchn_port_t port)
{
    return __atomic_load_n(&shared_info->evtchn_pending[port / 64], __ATOMIC_SEQ_CST) & (1ULL << (port % 64));
}

bool wait_pending(evtchn_port_t port)
{
    uint64_t give_up = now_ns() + 10 * NS_PER_SEC;
    while (!ev_pending(port))
        if (now_ns() > give_up)
            return false;
        else
            sleep_ns(NS_PER_MS);
    return true;
}

void ev_clear_pending(evtchn_port_t port)
{
    __atomic_fetch_and(&shared_info->evtchn_pending[port / 64], ~(1ULL << (port % 64)), __ATOMIC_SEQ_CST);
}

int16_t gnt_map(domid_t granter, grant_ref_t ref, uint64_t va, grant_handle_t *handle)
{
    struct gnttab_map_grant_ref m = { .host_addr = va, .flags = GNTMAP_host_map, .ref = ref, .dom = granter };
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &m, 1);
    if (rc)
        return (int16_t)-100;
    if (handle)
        *handle = m.handle;
    return m.status;
}

int16_t gnt_unmap(grant_handle_t handle)
{
    struct gnttab_unmap_grant_ref u = { .handle = handle };
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &u, 1);
    return rc ? (int16_t)-100 : u.status;
}

bool gnt_wait_table(domid_t dom, uint32_t frames)
{
    uint64_t give_up = now_ns() + 10 * NS_PER_SEC;
    for (;;) {
        struct gnttab_query_size q = { .dom = dom };
        if (HYPERVISOR_grant_table_op(GNTTABOP_query_size, &q, 1) == 0 && q.status == GNTST_okay &&
            q.nr_frames >= frames)
            return true;
        if (now_ns() > give_up)
            return false;
        sleep_ns(NS_PER_MS);
    }
}

#define OWN_FRAMES 2
static struct grant_entry_v1 own_table[OWN_FRAMES][GNTTAB_ENTRIES_PER_FRAME] __attribute__((aligned(4096)));

uint64_t pfn_of(const void *p) { return ((uint64_t)(uintptr_t)p - GUEST_RAM_VA) / GUEST_PAGE_SIZE; }

void gnt_own_setup(uint32_t frames)
{
    uint64_t pfns[OWN_FRAMES];
    for (uint32_t i = 0; i < frames && i < OWN_FRAMES; i++)
        pfns[i] = pfn_of(own_table[i]);
    struct gnttab_setup_table s = { .dom = DOMID_SELF, .nr_frames = frames, .frame_list = (uint64_t)(uintptr_t)pfns };
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1);
    if (rc || s.status != GNTST_okay) {
        xtf_error("Error: setup_table(%u) returned %ld/%d\n", frames, rc, s.status);
        xtf_exit();
    }
}

struct grant_entry_v1 *gnt_own_entry(grant_ref_t ref)
{
    return &own_table[ref / GNTTAB_ENTRIES_PER_FRAME][ref % GNTTAB_ENTRIES_PER_FRAME];
}

struct acm_stats mac_stats(void)
{
    struct acm_stats s;
    memset(&s, 0, sizeof(s));
    long rc = acm_dumpstats(&s);
    if (rc)
        xtf_failure("Fail: dumpstats returned %ld\n", rc);
    return s;
}
