// SPDX-License-Identifier: MIT
// Error returns of the hypercall handlers that only a domain holding every permission reaches
// (tests/mac/test_errors.py): with read_state on every label, a lookup of a free id answers
// -ESRCH (GNTST_bad_domain) instead of the denial an unprivileged caller gets, and the checks
// behind the MAC hooks (names, sizes, ports, frames, copy sides, op codes) come next. Each check
// prints one line `errors: <what> rc=<n>`, so the test can name the one that went wrong.
#include "common.h"

#include <moat/evtchn.h>
#include <public/event_channel.h>
#include <public/measure.h>
#include <public/sched.h>

#define FREE_ID (MOAT_MAX_DOMAINS - 1) /* free until table_full() fills the table */

static void expect(const char *what, long rc, long want)
{
    printf("errors: %s rc=%ld\n", what, rc);
    xtf_check(rc == want, "%s returned %ld, expected %ld", what, rc, want);
}

static long raw_domctl(uint32_t cmd, domid_t dom, struct moat_domctl *op)
{
    memset(op, 0, sizeof(*op));
    op->cmd = cmd;
    op->interface_version = MOAT_INTERFACE_VERSION;
    op->domain = dom;
    return HYPERVISOR_domctl(op);
}

static long create_raw(const struct moat_domctl_create *c)
{
    struct moat_domctl op;
    memset(&op, 0, sizeof(op));
    op.cmd = XEN_DOMCTL_createdomain;
    op.interface_version = MOAT_INTERFACE_VERSION;
    op.u.create = *c;
    long rc = HYPERVISOR_domctl(&op);
    if (rc == 0)
        kill(op.u.create.domid); /* a check that should have failed: do not leave it running */
    return rc;
}

/*
 * A domctl record in read-only memory: the hypervisor reads it, and writes it back only when the
 * call succeeded, so a failed call answers its own error and a successful one -EFAULT.
 */
static const struct moat_domctl ro_vcpu99 = {.cmd = XEN_DOMCTL_getvcpuinfo,
                                             .interface_version = MOAT_INTERFACE_VERSION,
                                             .domain = DOMID_SELF,
                                             .u.vcpu = {.vcpu = 99}};
static const struct moat_domctl ro_info = {.cmd = XEN_DOMCTL_getdomaininfo,
                                           .interface_version = MOAT_INTERFACE_VERSION,
                                           .domain = DOMID_SELF};

static void domctl_errors(void)
{
    struct moat_domctl op;
    expect("domctl unknown cmd", raw_domctl(77, FREE_ID, &op), -XEN_ENOSYS);
    memset(&op, 0, sizeof(op));
    op.cmd = XEN_DOMCTL_getdomaininfo;
    op.interface_version = MOAT_INTERFACE_VERSION + 1;
    op.domain = DOMID_SELF;
    expect("domctl interface version", HYPERVISOR_domctl(&op), -XEN_EINVAL);
    /* With read_state on every label, a free id is simply not there. */
    expect("domctl getinfo free id", raw_domctl(XEN_DOMCTL_getdomaininfo, FREE_ID, &op), -XEN_ESRCH);
    expect("domctl destroy free id", raw_domctl(XEN_DOMCTL_destroydomain, FREE_ID, &op), -XEN_ESRCH);
    expect("domctl pause free id", raw_domctl(XEN_DOMCTL_pausedomain, FREE_ID, &op), -XEN_ESRCH);
    expect("domctl unpause id 1000", raw_domctl(XEN_DOMCTL_unpausedomain, 1000, &op), -XEN_ESRCH);
    /* Permitted, but not on oneself (SCHEDOP_shutdown is the way), by DOMID_SELF or by id. */
    expect("domctl destroy self", raw_domctl(XEN_DOMCTL_destroydomain, DOMID_SELF, &op), -XEN_EINVAL);
    expect("domctl pause self by id", raw_domctl(XEN_DOMCTL_pausedomain, SELF, &op), -XEN_EINVAL);
    expect("domctl unpause self", raw_domctl(XEN_DOMCTL_unpausedomain, DOMID_SELF, &op), -XEN_EINVAL);
    expect("domctl getinfo self by id", raw_domctl(XEN_DOMCTL_getdomaininfo, SELF, &op), 0);
    expect("domctl read-only getvcpuinfo of no vcpu", HYPERVISOR_domctl((struct moat_domctl *)&ro_vcpu99), -XEN_EINVAL);
    expect("domctl read-only getinfo", HYPERVISOR_domctl((struct moat_domctl *)&ro_info), -XEN_EFAULT);
    xtf_check(op.u.info.ssidref == BLOB_MAC_TEST_SSID_SYSTEM, "own info: ssidref %#x", op.u.info.ssidref);

    int peer = find_image("mac_peer");
    xtf_assert(peer > 0, "image mac_peer not found");
    struct moat_domctl_create c;
    memset(&c, 0, sizeof(c));
    c.image = (uint32_t)peer;
    c.memory_kib = 256;
    c.ssidref = BLOB_MAC_TEST_SSID_RED;
    strlcpy(c.cmdline, "mode=sleep", sizeof(c.cmdline));
    memset(c.name, 'n', sizeof(c.name)); /* no NUL */
    expect("create name unterminated", create_raw(&c), -XEN_EINVAL);
    c.ssidref = 0x00420042; /* the arguments are checked before the label */
    expect("create name unterminated, not a label", create_raw(&c), -XEN_EINVAL);
    c.ssidref = BLOB_MAC_TEST_SSID_RED;
    strlcpy(c.name, "err-child", sizeof(c.name));
    memset(c.cmdline, 'c', sizeof(c.cmdline));
    expect("create cmdline unterminated", create_raw(&c), -XEN_EINVAL);
    c.ssidref = 0x00420042;
    expect("create cmdline unterminated, not a label", create_raw(&c), -XEN_EINVAL);
    c.ssidref = BLOB_MAC_TEST_SSID_RED;
    strlcpy(c.cmdline, "mode=sleep", sizeof(c.cmdline));
    c.ssidref = 0x00420042;
    expect("create ssidref not a label", create_raw(&c), -XEN_EPERM);
    c.ssidref = BLOB_MAC_TEST_SSID_RED;
    c.image = start_info->nr_images;
    expect("create image past the modules", create_raw(&c), -XEN_EINVAL);
    c.image = 0; /* the boot manifest: a module, but no ELF image */
    expect("create image not an ELF", create_raw(&c), -XEN_EINVAL);
    c.image = (uint32_t)peer;
    c.memory_kib = 258;
    expect("create memory not pages", create_raw(&c), -XEN_EINVAL);
    c.memory_kib = 60;
    expect("create memory below 64K", create_raw(&c), -XEN_EINVAL);
    c.memory_kib = 64;
    expect("create memory too small for the image", create_raw(&c), -XEN_EINVAL);
    /* 64 KiB is the smallest size, and enough for a small image. */
    int sleeper = find_image("sleeper");
    xtf_assert(sleeper > 0, "image sleeper not found");
    c.image = (uint32_t)sleeper;
    struct moat_domctl cop;
    memset(&cop, 0, sizeof(cop));
    cop.cmd = XEN_DOMCTL_createdomain;
    cop.interface_version = MOAT_INTERFACE_VERSION;
    cop.u.create = c;
    expect("create 64K sleeper", HYPERVISOR_domctl(&cop), 0);
    expect("create 64K sleeper: getinfo", domctl_getinfo(cop.u.create.domid, &op.u.info), 0);
    expect("create 64K sleeper: pages", op.u.info.nr_pages, 16);
    /* max_vcpus 0: one vCPU, the default; there is no vCPU 1. */
    struct moat_domctl_vcpu vi;
    expect("create 64K sleeper: vcpu 0", domctl_getvcpuinfo(cop.u.create.domid, 0, &vi), 0);
    expect("create 64K sleeper: no vcpu 1", domctl_getvcpuinfo(cop.u.create.domid, 1, &vi), -XEN_EINVAL);
    kill(cop.u.create.domid);
    c.image = (uint32_t)peer;
    c.memory_kib = 256;
    c.max_vcpus = MOAT_MAX_VCPUS + 1;
    expect("create max_vcpus past the most", create_raw(&c), -XEN_EINVAL);
    c.max_vcpus = MOAT_MAX_VCPUS; /* the most: allowed */
    expect("create max_vcpus the most", create_raw(&c), 0);
    c.max_vcpus = 0;
    c.flags = DOMCTL_CREATE_PAUSED << 1; /* no such flag */
    expect("create unknown flag", create_raw(&c), -XEN_EINVAL);
    c.flags = 0;
    c.memory_kib = 0xfffffffcu;
    expect("create memory too large", create_raw(&c), -XEN_EINVAL);
    c.memory_kib = GUEST_RAM_MAX / 1024 + 4; /* one page past the largest RAM a domain may have */
    expect("create memory a page past 1 GiB", create_raw(&c), -XEN_EINVAL);
    c.memory_kib = GUEST_RAM_MAX / 1024; /* the largest: allowed, but this machine has not 1 GiB free */
    expect("create memory of 1 GiB", create_raw(&c), -XEN_ENOMEM);
    c.memory_kib = 256;
    strlcpy(c.name, "bad\x1b[name", sizeof(c.name));
    expect("create name with escape", create_raw(&c), -XEN_EINVAL);
    c.name[0] = '\0';
    expect("create empty name", create_raw(&c), -XEN_EINVAL);
    strlcpy(c.name, "err-child", sizeof(c.name));
    c.devices = 1u << 31; /* no such device */
    expect("create with an unknown device", create_raw(&c), -XEN_EINVAL);
}

/* The domain table full: the next create gets -ENOSPC, and one more fits once one is gone. */
static void table_full(void)
{
    static domid_t made[MOAT_MAX_DOMAINS];
    unsigned n = 0;
    long rc = 0;
    while (n < MOAT_MAX_DOMAINS && (rc = child_try(BLOB_MAC_TEST_SSID_RED, "filler", "mode=sleep", &made[n])) == 0)
        n++;
    printf("errors: filled the table with %u domains\n", n);
    expect("create into a full table", rc, -XEN_ENOSPC);
    xtf_check(n > 0 && n < MOAT_MAX_DOMAINS, "%u domains created before the table was full", n);
    if (n) {
        kill(made[--n]);
        domid_t again;
        expect("create after one left", child_try(BLOB_MAC_TEST_SSID_RED, "filler", "mode=sleep", &again), 0);
        made[n++] = again;
    }
    while (n)
        kill(made[--n]);
}

static void evtchn_errors(domid_t red)
{
    evtchn_port_t p;
    struct evtchn_status st;
    expect("evtchn alloc_unbound owner free id", ev_alloc(FREE_ID, SELF, &p), -XEN_ESRCH);
    expect("evtchn alloc_unbound remote free id", ev_alloc(DOMID_SELF, FREE_ID, &p), -XEN_ESRCH);
    expect("evtchn bind_interdomain free id", ev_bind(FREE_ID, 1, &p), -XEN_ESRCH);
    expect("evtchn status free id", ev_status(FREE_ID, 1, &st), -XEN_ESRCH);
    struct evtchn_reset r = {.dom = FREE_ID};
    expect("evtchn reset free id", HYPERVISOR_event_channel_op(EVTCHNOP_reset, &r), -XEN_ESRCH);
    /* Foreign ops with the permission: a port of red's own, unbound to red itself, then reset. */
    expect("evtchn alloc_unbound in red for red", ev_alloc(red, DOMID_SELF, &p), 0);
    expect("evtchn status of red's port", ev_status(red, p, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == red, "red's port %u: %u/%u", p, st.status,
              st.u.unbound.dom);
    r.dom = red;
    expect("evtchn reset red", HYPERVISOR_event_channel_op(EVTCHNOP_reset, &r), 0);
    expect("evtchn status after reset", ev_status(red, p, &st), 0);
    xtf_check_eq(st.status, EVTCHNSTAT_closed);
    /*
     * A port unbound for a domain that dies becomes unbound to no one, in every domain that
     * holds one, domain 0 included.
     */
    domid_t victim = child(BLOB_MAC_TEST_SSID_RED, "err-victim", "mode=sleep");
    expect("evtchn alloc_unbound in domain 0 for a child", ev_alloc(0, victim, &p), 0);
    kill(victim);
    wait_gone(victim);
    expect("evtchn status of domain 0's port after the death", ev_status(0, p, &st), 0);
    expect("evtchn status of domain 0's port after the death: remote", st.u.unbound.dom, DOMID_INVALID);
    /* Port 0 is reserved: its status is "closed", never an error. */
    expect("evtchn status port 0", ev_status(DOMID_SELF, 0, &st), 0);
    xtf_check_eq(st.status, EVTCHNSTAT_closed);
}

static long gnt_op(unsigned cmd, void *op, unsigned count)
{
    return HYPERVISOR_grant_table_op(cmd, op, count);
}

static void grant_errors(domid_t red)
{
    struct gnttab_query_size q = {.dom = FREE_ID};
    expect("gnttab query_size free id", gnt_op(GNTTABOP_query_size, &q, 1), 0);
    expect("gnttab query_size free id status", q.status, GNTST_bad_domain);
    struct gnttab_query_size q2[2] = {{.dom = DOMID_SELF}, {.dom = DOMID_SELF}};
    expect("gnttab query_size count 2", gnt_op(GNTTABOP_query_size, q2, 2), -XEN_EINVAL);
    expect("gnttab query_size count 0", gnt_op(GNTTABOP_query_size, q2, 0), -XEN_EINVAL);
    struct gnttab_setup_table s[2];
    memset(s, 0, sizeof(s));
    s[0].dom = FREE_ID;
    expect("gnttab setup_table count 2", gnt_op(GNTTABOP_setup_table, s, 2), -XEN_EINVAL);
    expect("gnttab setup_table free id", gnt_op(GNTTABOP_setup_table, s, 1), 0);
    expect("gnttab setup_table free id status", s[0].status, GNTST_bad_domain);
    expect("gnttab batch too long", gnt_op(GNTTABOP_map_grant_ref, s, GNTTAB_MAX_BATCH + 1), -XEN_EINVAL);
    expect("gnttab unknown op", gnt_op(77, s, 1), -XEN_ENOSYS);

    struct gnttab_map_grant_ref m = {.host_addr = GRANT_VA(0), .flags = GNTMAP_host_map, .ref = 0, .dom = FREE_ID};
    expect("gnttab map free id", gnt_op(GNTTABOP_map_grant_ref, &m, 1), 0);
    expect("gnttab map free id status", m.status, GNTST_bad_domain);
    /* red has no grant table yet: any ref of it is an error. */
    m.dom = red;
    expect("gnttab map from a domain without a table", gnt_op(GNTTABOP_map_grant_ref, &m, 1), 0);
    expect("gnttab map without a table status", m.status, GNTST_general_error);

    /* A grant of a frame past the granter's RAM: refused when pinned, by map and by copy. */
    gnt_own_setup(1);
    struct grant_entry_v1 *e = gnt_own_entry(5);
    e->frame = (uint32_t)start_info->nr_pages + 5;
    e->domid = SELF;
    __atomic_store_n(&e->flags, GTF_permit_access, __ATOMIC_SEQ_CST);
    m.dom = DOMID_SELF;
    m.ref = 5;
    expect("gnttab map of a grant past the granter's RAM", gnt_op(GNTTABOP_map_grant_ref, &m, 1), 0);
    expect("gnttab map of a grant past the granter's RAM status", m.status, GNTST_bad_page);

    /*
     * A pinned entry is read once: rewriting it while it is mapped changes nothing for later
     * pins of the same entry (they get the frame of the first pin), until the last unmap.
     */
    static uint8_t first[GUEST_PAGE_SIZE] __attribute__((aligned(4096)));
    static uint8_t second[GUEST_PAGE_SIZE] __attribute__((aligned(4096)));
    first[0] = 0x11, second[0] = 0x22;
    e = gnt_own_entry(6);
    e->frame = (uint32_t)pfn_of(first);
    e->domid = SELF;
    __atomic_store_n(&e->flags, GTF_permit_access | GTF_readonly, __ATOMIC_SEQ_CST);
    struct gnttab_map_grant_ref ro = {.host_addr = GRANT_VA(1), .flags = GNTMAP_host_map | GNTMAP_readonly, .ref = 6,
                                      .dom = DOMID_SELF};
    expect("gnttab map own grant read-only", gnt_op(GNTTABOP_map_grant_ref, &ro, 1), 0);
    expect("gnttab map own grant read-only status", ro.status, GNTST_okay);
    grant_handle_t h1 = ro.handle;
    e->frame = (uint32_t)pfn_of(second); /* the granter changes its mind while the entry is pinned */
    ro.host_addr = GRANT_VA(2);
    expect("gnttab map the rewritten pinned grant", gnt_op(GNTTABOP_map_grant_ref, &ro, 1), 0);
    expect("gnttab map the rewritten pinned grant status", ro.status, GNTST_okay);
    expect("gnttab the second mapping shows the first frame", *(volatile uint8_t *)GRANT_VA(2), 0x11);
    ro.flags = GNTMAP_host_map; /* writable: the first pin was read-only */
    ro.host_addr = GRANT_VA(3);
    expect("gnttab map a read-only pinned grant writable", gnt_op(GNTTABOP_map_grant_ref, &ro, 1), 0);
    expect("gnttab map a read-only pinned grant writable status", ro.status, GNTST_general_error);
    expect("gnttab unmap first", gnt_unmap(h1), GNTST_okay);
    expect("gnttab unmap first again", gnt_unmap(h1), GNTST_bad_handle);

    /* Copies: a PFN side names the caller only; a PFN past its RAM is a bad page. */
    static uint8_t page[GUEST_PAGE_SIZE] __attribute__((aligned(4096)));
    struct gnttab_copy c;
    memset(&c, 0, sizeof(c));
    c.source.u.gmfn = pfn_of(page);
    c.source.domid = red;
    c.dest.u.gmfn = pfn_of(page);
    c.dest.domid = DOMID_SELF;
    c.len = 8;
    expect("gnttab copy from a foreign PFN", gnt_op(GNTTABOP_copy, &c, 1), 0);
    expect("gnttab copy from a foreign PFN status", c.status, GNTST_permission_denied);
    c.source.domid = SELF; /* one's own id is as good as DOMID_SELF */
    c.dest.u.gmfn = start_info->nr_pages;
    expect("gnttab copy to a PFN past RAM", gnt_op(GNTTABOP_copy, &c, 1), 0);
    expect("gnttab copy to a PFN past RAM status", c.status, GNTST_bad_page);
    c.dest.u.gmfn = pfn_of(page);
    c.dest.offset = 8;
    page[0] = 0x5a;
    expect("gnttab copy within own page", gnt_op(GNTTABOP_copy, &c, 1), 0);
    expect("gnttab copy within own page status", c.status, GNTST_okay);
    xtf_check_eq(page[8], 0x5a);
    c.flags = GNTCOPY_source_gref;
    c.source.domid = FREE_ID;
    expect("gnttab copy from a free id's grant", gnt_op(GNTTABOP_copy, &c, 1), 0);
    expect("gnttab copy from a free id's grant status", c.status, GNTST_bad_domain);
    c.source.domid = DOMID_SELF;
    c.source.u.ref = 5;
    expect("gnttab copy from a grant past the granter's RAM", gnt_op(GNTTABOP_copy, &c, 1), 0);
    expect("gnttab copy from a grant past the granter's RAM status", c.status, GNTST_bad_page);
    c.source.u.gmfn = pfn_of(page);
    c.flags = GNTCOPY_dest_gref;
    c.dest.domid = red;
    c.dest.offset = 0;
    expect("gnttab copy to a table-less domain's grant", gnt_op(GNTTABOP_copy, &c, 1), 0);
    expect("gnttab copy to a table-less domain's grant status", c.status, GNTST_general_error);
}

static void xsm_errors(void)
{
    struct acm_op op;
    memset(&op, 0, sizeof(op));
    op.interface_version = ACM_INTERFACE_VERSION;
    op.u.getssid.get_by = 3;
    expect("acm getssid get_by 3", acm_op(&op, ACMOP_getssid), -XEN_EINVAL);
    struct acm_getssid g;
    expect("acm getssid free id", acm_getssid_domain(FREE_ID, &g), -XEN_ESRCH);
    expect("acm getssid by a non-label", acm_getssid_ssidref(0x00420042, &g), -XEN_EINVAL);
    /* DOMID_SELF means "me" only to a lookup by domain id: as an ssidref it is no label. */
    expect("acm getssid by ssidref DOMID_SELF", acm_getssid_ssidref(DOMID_SELF, &g), -XEN_EINVAL);
    uint32_t dec;
    expect("acm getdecision unknown hook",
           acm_getdecision(BLOB_MAC_TEST_SSID_RED, BLOB_MAC_TEST_SSID_BLUE, 77, &dec), -XEN_EINVAL);
    /* Chinese Wall column 0 (alpha) is a conflict like any other: beta may not join alpha. */
    dec = 77;
    expect("acm getdecision beta beside alpha",
           acm_getdecision(BLOB_MAC_TEST_SSID_ALPHA, BLOB_MAC_TEST_SSID_BETA, ACM_HOOK_DOMAIN_CREATE, &dec), 0);
    expect("acm getdecision beta beside alpha decision", dec, ACM_ACCESS_DENIED);
    dec = 77;
    expect("acm getdecision alpha beside beta",
           acm_getdecision(BLOB_MAC_TEST_SSID_BETA, BLOB_MAC_TEST_SSID_ALPHA, ACM_HOOK_DOMAIN_CREATE, &dec), 0);
    expect("acm getdecision alpha beside beta decision", dec, ACM_ACCESS_DENIED);
    expect("acm getdecision non-label 1", acm_getdecision(0x00420042, BLOB_MAC_TEST_SSID_BLUE, 1, &dec),
           -XEN_EINVAL);
    expect("acm getdecision non-label 2", acm_getdecision(BLOB_MAC_TEST_SSID_RED, 0x00420042, 1, &dec),
           -XEN_EINVAL);
    expect("acm relabel free id", acm_relabel(FREE_ID, BLOB_MAC_TEST_SSID_RED, NULL), -XEN_ESRCH);
    expect("acm relabel to a non-label", acm_relabel(SELF, 0x00420042, NULL), -XEN_EINVAL);
    memset(&op, 0, sizeof(op));
    op.interface_version = ACM_INTERFACE_VERSION;
    op.u.dumpstats.size = sizeof(struct acm_stats) - 1;
    expect("acm dumpstats short buffer", acm_op(&op, ACMOP_dumpstats), -XEN_ENOSPC);
    memset(&op, 0, sizeof(op));
    op.interface_version = ACM_INTERFACE_VERSION;
    expect("acm unknown op", acm_op(&op, 77), -XEN_ENOSYS);
    /*
     * setpolicy's violations go to the caller's buffer: a bad one is -EFAULT, nothing loaded.
     * The violation: domain 0 (red, Chinese Wall type free) beside a gamma child, which the
     * wall policy forbids; domain 0 is the only free domain then, so it must be counted too.
     */
    struct acm_setpolicy sp;
    domid_t gamma = child(BLOB_MAC_TEST_SSID_GAMMA, "err-gamma", "mode=sleep");
    expect("acm setpolicy violations to a bad buffer",
           acm_setpolicy(blob_mac_test_wall, sizeof(blob_mac_test_wall), ACM_MODE_REFUSE,
                         (struct acm_violation *)8, 4, &sp), -XEN_EFAULT);
    kill(gamma);
    wait_gone(gamma);
    /* A blob of over 1 MiB whose first MiB is not the guest's (below its RAM) and the rest is:
     * setpolicy copies it in 1 MiB pieces, and a fault in the first must end the copy. */
    expect("acm setpolicy first MiB unmapped",
           acm_setpolicy((const void *)(GUEST_RAM_VA - (1u << 20)), (1u << 20) + 4096, ACM_MODE_REFUSE, NULL, 0, &sp),
           -XEN_EFAULT);
    /* The size bounds are inclusive: a blob of exactly the header's size, or exactly the largest
     * size, is read (and faults here, the pointer being below the guest's RAM); one byte less or
     * more is refused before anything is read (-EINVAL, -E2BIG, not -EFAULT). */
    const void *unmapped = (const void *)(GUEST_RAM_VA - (1u << 20));
    expect("acm setpolicy header-sized blob is read",
           acm_setpolicy(unmapped, ACM_HEADER_SIZE, ACM_MODE_REFUSE, NULL, 0, &sp), -XEN_EFAULT);
    expect("acm setpolicy largest blob is read",
           acm_setpolicy(unmapped, ACM_MAX_SETPOLICY_SIZE, ACM_MODE_REFUSE, NULL, 0, &sp), -XEN_EFAULT);
    expect("acm setpolicy blob shorter than a header is not read",
           acm_setpolicy(unmapped, ACM_HEADER_SIZE - 1, ACM_MODE_REFUSE, NULL, 0, &sp), -XEN_EINVAL);
    expect("acm setpolicy blob over the largest is not read",
           acm_setpolicy(unmapped, ACM_MAX_SETPOLICY_SIZE + 1, ACM_MODE_REFUSE, NULL, 0, &sp), -XEN_E2BIG);
    /* The counts written back by a refused load say nothing was found or revoked, whatever the
     * caller left in them (a malformed blob: refused before any sweep). */
    struct acm_op op2;
    memset(&op2, 0, sizeof(op2));
    op2.interface_version = ACM_INTERFACE_VERSION;
    op2.u.setpolicy.buf = (uint64_t)(uintptr_t)blob_mac_test;
    op2.u.setpolicy.size = (uint32_t)sizeof(blob_mac_test) - 8;
    op2.u.setpolicy.mode = ACM_MODE_REFUSE;
    op2.u.setpolicy.nr_errors = op2.u.setpolicy.revoked_evtchn = 0x55;
    op2.u.setpolicy.revoked_grants = op2.u.setpolicy.revoked_virqs = 0x55;
    expect("acm setpolicy truncated, counts preset", acm_op(&op2, ACMOP_setpolicy), -XEN_EINVAL);
    expect("acm setpolicy truncated, counts written back",
           (long)(op2.u.setpolicy.nr_errors | op2.u.setpolicy.revoked_evtchn | op2.u.setpolicy.revoked_grants |
                  op2.u.setpolicy.revoked_virqs), 0);
    static uint8_t live[8192];
    uint32_t len = 0;
    expect("acm getpolicy after the refusal", acm_getpolicy(live, sizeof(live), &len), 0);
    xtf_check(len == sizeof(blob_mac_test) && !memcmp(live, blob_mac_test, len), "the live policy changed");
    /* A getpolicy that faults on the caller's buffer writes nothing back: only -ENOSPC (and
     * success) report the blob's size in len. */
    memset(&op2, 0, sizeof(op2));
    op2.interface_version = ACM_INTERFACE_VERSION;
    op2.u.getpolicy.buf = (uint64_t)(uintptr_t)unmapped;
    op2.u.getpolicy.size = 1u << 20;
    op2.u.getpolicy.len = 0x55;
    expect("acm getpolicy into an unmapped buffer", acm_op(&op2, ACMOP_getpolicy), -XEN_EFAULT);
    expect("acm getpolicy into an unmapped buffer, len untouched", (long)op2.u.getpolicy.len, 0x55);
    /* dumpstats into a buffer of exactly the statistics' size. */
    static struct acm_stats st;
    memset(&op2, 0, sizeof(op2));
    op2.interface_version = ACM_INTERFACE_VERSION;
    op2.u.dumpstats.buf = (uint64_t)(uintptr_t)&st;
    op2.u.dumpstats.size = sizeof(st);
    expect("acm dumpstats exact buffer", acm_op(&op2, ACMOP_dumpstats), 0);
    /* A buffer of exactly the blob's size is enough. */
    memset(live, 0, sizeof(live));
    len = 0;
    expect("acm getpolicy into a buffer of the blob's size", acm_getpolicy(live, (uint32_t)sizeof(blob_mac_test), &len), 0);
    xtf_check(len == sizeof(blob_mac_test) && !memcmp(live, blob_mac_test, len), "getpolicy into an exact buffer");
}

static void other_errors(void)
{
    struct sched_shutdown s = {.reason = 7};
    expect("sched shutdown reason 7", HYPERVISOR_sched_op(SCHEDOP_shutdown, &s), -XEN_EINVAL);
    s.reason = SHUTDOWN_crash + 1;
    expect("sched shutdown reason past crash", HYPERVISOR_sched_op(SCHEDOP_shutdown, &s), -XEN_EINVAL);
    expect("sched shutdown bad pointer", HYPERVISOR_sched_op(SCHEDOP_shutdown, (void *)8), -XEN_EFAULT);
    expect("sched unknown op", HYPERVISOR_sched_op(77, NULL), -XEN_ENOSYS);
    expect("set_callbacks below RAM", HYPERVISOR_set_callbacks(GUEST_RAM_VA - 1, 0), -XEN_EINVAL);
    expect("set_callbacks past RAM",
           HYPERVISOR_set_callbacks(GUEST_RAM_VA + start_info->nr_pages * GUEST_PAGE_SIZE, 0), -XEN_EINVAL);
    /* RAM's first and last bytes are code addresses (guest_code_address): accepted, then the callback
     * is cleared again (this guest takes no upcalls), with upcalls masked meanwhile so that none
     * enters either. */
    uint8_t masked = evtchn_upcalls_mask();
    expect("set_callbacks at RAM's first byte", HYPERVISOR_set_callbacks(GUEST_RAM_VA, 0), 0);
    expect("set_callbacks at RAM's last byte",
           HYPERVISOR_set_callbacks(GUEST_RAM_VA + start_info->nr_pages * GUEST_PAGE_SIZE - 1, 0), 0);
    expect("set_callbacks 0 (none)", HYPERVISOR_set_callbacks(0, 0), 0);
    evtchn_upcalls_restore(masked);
    expect("xen_version unknown", HYPERVISOR_xen_version(77, NULL), -XEN_ENOSYS);
    domid_t missing = FREE_ID;
    expect("memory_op free id", HYPERVISOR_memory_op(XENMEM_current_reservation, &missing), -XEN_ESRCH);
    expect("memory_op unknown", HYPERVISOR_memory_op(77, &missing), -XEN_ENOSYS);
    expect("memory_op bad pointer", HYPERVISOR_memory_op(XENMEM_maximum_reservation, (void *)8), -XEN_EFAULT);
    expect("console_io unknown", HYPERVISOR_console_io(77, 1, "x"), -XEN_ENOSYS);
    expect("console_io too long", HYPERVISOR_console_io(CONSOLEIO_write, CONSOLEIO_MAX + 1, "x"), -XEN_EINVAL);
    expect("measure_op without the TPM", hypercall5(__HYPERVISOR_measure_op, 0, 0, 0, 0, 0), -XEN_EPERM);
}

void suite_errors(void)
{
    struct moat_domctl_info info;
    xtf_assert(SELF == 1 && domctl_getinfo(0, &info) == 0 && info.ssidref == BLOB_MAC_TEST_SSID_RED,
               "domain 0 should be the scenario's red sleeper");
    domid_t red = child(BLOB_MAC_TEST_SSID_RED, "err-red", "mode=sleep");
    /* A created domain holds no privilege flag, whatever its creator holds: it prints its own. */
    domid_t flags = child(BLOB_MAC_TEST_SSID_RED, "err-flags", "mode=flags");
    xtf_check(wait_gone(flags), "err-flags did not end");
    domctl_errors();
    evtchn_errors(red);
    grant_errors(red);
    kill(red);
    wait_gone(red);
    xsm_errors();
    other_errors();
    table_full();
    printf("errors: done\n");
}
