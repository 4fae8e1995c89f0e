// SPDX-License-Identifier: MIT
// Probing for domain ids (issue 10, breach 2). A domain without read_state on a target must not
// tell "no such domain" from "not allowed": every operation that takes a domain id must answer a
// live domain it may not touch (target=) and a free id (free=) alike. Modes (cmdline mode=):
//   probe target=<domid> free=<domid>   one verdict per operation
//   victim                              sleep until destroyed
#include <moat/acm.h>
#include <moat/gnttab.h>

#include "../common/attack.h"

static domid_t target, free_id;

/* One answer: a return code and, for grant ops, the element's status. */
struct answer {
    long rc;
    long status;
};

static void compare(const char *name, struct answer (*op)(domid_t))
{
    struct answer a = op(target), b = op(free_id);
    verdict(name, a.rc == b.rc && a.status == b.status,
            "domain %u answers %ld/%ld, the free id %u answers %ld/%ld", target, a.rc, a.status, free_id, b.rc,
            b.status);
}

static struct answer rc_only(long rc) { return (struct answer){rc, 0}; }

static struct answer getinfo(domid_t d)
{
    struct moat_domctl_info info;
    return rc_only(domctl_getinfo(d, &info));
}
static struct answer destroy(domid_t d) { return rc_only(domctl_destroy(d)); }
static struct answer pause(domid_t d) { return rc_only(domctl_pause(d)); }
static struct answer unpause(domid_t d) { return rc_only(domctl_unpause(d)); }

static struct answer mem_current(domid_t d)
{
    domid_t id = d;
    return rc_only(HYPERVISOR_memory_op(XENMEM_current_reservation, &id));
}

static struct answer mem_maximum(domid_t d)
{
    domid_t id = d;
    return rc_only(HYPERVISOR_memory_op(XENMEM_maximum_reservation, &id));
}

static struct answer getssid(domid_t d)
{
    struct acm_getssid g;
    return rc_only(acm_getssid_domain(d, &g));
}

static struct answer relabel(domid_t d) { return rc_only(acm_relabel(d, start_info->ssidref, NULL)); }

static struct answer ev_status(domid_t d)
{
    struct evtchn_status st;
    return rc_only(evtchn_status(d, 1, &st));
}

static struct answer ev_alloc_owner(domid_t d) { return rc_only(evtchn_alloc_unbound_in(d, DOMID_SELF)); }

static struct answer ev_alloc_remote(domid_t d)
{
    long rc = evtchn_alloc_unbound(d);
    if (rc > 0)
        evtchn_close((evtchn_port_t)rc);
    return rc_only(rc > 0 ? 0 : rc);
}

static struct answer ev_bind(domid_t d) { return rc_only(evtchn_bind_interdomain(d, 1)); }
static struct answer ev_reset(domid_t d) { return rc_only(evtchn_reset(d)); }

static struct answer gnt_map(domid_t d)
{
    struct gnttab_map_grant_ref m = {.host_addr = GUEST_GRANT_VA, .flags = GNTMAP_host_map | GNTMAP_readonly,
                                     .ref = GNTTAB_NR_RESERVED_ENTRIES, .dom = d};
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &m, 1);
    return (struct answer){rc, m.status};
}

static uint8_t page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));

static struct answer gnt_copy(domid_t d, bool from_ref)
{
    struct gnttab_copy c = {.len = 8};
    struct gnttab_copy_ptr *ref = from_ref ? &c.source : &c.dest, *own = from_ref ? &c.dest : &c.source;
    ref->u.ref = GNTTAB_NR_RESERVED_ENTRIES;
    ref->domid = d;
    own->u.gmfn = gnttab_pfn_of(page);
    own->domid = DOMID_SELF;
    c.flags = from_ref ? GNTCOPY_source_gref : GNTCOPY_dest_gref;
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, &c, 1);
    return (struct answer){rc, c.status};
}
static struct answer gnt_copy_src(domid_t d) { return gnt_copy(d, true); }
static struct answer gnt_copy_dst(domid_t d) { return gnt_copy(d, false); }

static struct answer gnt_setup(domid_t d)
{
    uint64_t pfn = gnttab_pfn_of(page);
    struct gnttab_setup_table s = {.dom = d, .nr_frames = 1, .frame_list = (uint64_t)(uintptr_t)&pfn};
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1);
    return (struct answer){rc, s.status};
}

static struct answer gnt_query(domid_t d)
{
    struct gnttab_query_size q = {.dom = d};
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_query_size, &q, 1);
    return (struct answer){rc, q.status};
}

static const struct {
    const char *name;
    struct answer (*op)(domid_t);
} probes[] = {
    {"probe-domctl-getinfo", getinfo},
    {"probe-domctl-destroy", destroy},
    {"probe-domctl-pause", pause},
    {"probe-domctl-unpause", unpause},
    {"probe-memory-current", mem_current},
    {"probe-memory-maximum", mem_maximum},
    {"probe-getssid", getssid},
    {"probe-relabel", relabel},
    {"probe-evtchn-status", ev_status},
    {"probe-evtchn-alloc-owner", ev_alloc_owner},
    {"probe-evtchn-alloc-remote", ev_alloc_remote},
    {"probe-evtchn-bind", ev_bind},
    {"probe-evtchn-reset", ev_reset},
    {"probe-grant-map", gnt_map},
    {"probe-grant-copy-source", gnt_copy_src},
    {"probe-grant-copy-dest", gnt_copy_dst},
    {"probe-grant-setup", gnt_setup},
    {"probe-grant-query", gnt_query},
};

static void probe(void)
{
    target = (domid_t)cmdline_ulong("target", DOMID_INVALID);
    free_id = (domid_t)cmdline_ulong("free", DOMID_INVALID);
    for (unsigned i = 0; i < ARRAY_SIZE(probes); i++)
        compare(probes[i].name, probes[i].op);
}

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {{"probe", probe}, {"victim", attack_sleep_forever}};
    return attack_main(modes, ARRAY_SIZE(modes));
}
