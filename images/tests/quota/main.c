// SPDX-License-Identifier: MIT
// Resource quotas per label (tests/resource/test_quotas.py, policy tests/scenarios/policies/
// quota-test.toml). One image, four roles (cmdline role=):
//   ctl     (label system) refuses corrupted quota sections, fills label `small` to its memory
//           quota while `big` still creates, and checks that a dead domain's charges come back
//   mgr     (label mgr, quota domains = 3) creates tenants until its own label's budget is spent
//   lim     (label lim) exhausts its ports, grant frames and grant mappings
//   free    (label free, no quota) does the same and gets past every one of lim's limits
//   hog     (label zone-a) exhausts the same quotas as lim, holds them, tells peer, and waits
//   peer    (label zone-b, other quotas) then gets every one of its own: charges go to the
//           label of the domain that spends them, not to another or to all (peer=, hog=<domid>)
//   boss    (policy quota-relabel.toml, label boss, quota domains = 3) relabels the worker it
//           created to its own label and back: the creator's row keeps what it held (charged
//           once, never twice or not at all)
//   sleep   a child that waits to be destroyed
//   starve  (label system, alone) starves a creation at each of its steps in turn (starve_each_step)
//   limits  (label system, alone) loads the same labels without limits, creates, and loads the
//           limits back: what was created meanwhile counts (limits_dropped_and_back)
// Each prints `quota: ...` lines the test reads; the counts are capped (CAP), so a limit that is
// not enforced shows as the cap.
#include <moat/acm.h>
#include <moat/gnttab.h>
#include <moat/test.h>
#include <public/event_channel.h>

#include "embedded_policies.h"

#define CAP 64
#define SELF (start_info->domid)

static uint8_t buf[8192] __attribute__((aligned(8)));
static uint8_t table[2 * GUEST_PAGE_SIZE] __attribute__((aligned(4096)));
static uint8_t shared[8][GUEST_PAGE_SIZE] __attribute__((aligned(4096)));

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static long create(uint32_t ssidref, const char *name, uint32_t kib, domid_t *d)
{
    struct domctl_create_args a = {.image = (uint32_t)find_image("quota"), .memory_kib = kib, .ssidref = ssidref,
                                   .name = name, .cmdline = "role=sleep"};
    return domctl_create(&a, d);
}

static void kill_all(const domid_t *ids, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        xtf_check_eq(domctl_destroy(ids[i]), 0);
}

/* The offset of the QUOTAS section in the policy blob (0: none). */
static uint32_t quotas_section(const uint8_t *b)
{
    uint32_t ste = be32(b + 28);
    uint32_t ext = ste + ((20 + 2 * be32(b + ste + 8) * be32(b + ste + 12) + 7) & ~7u);
    for (uint32_t o = ext + 16, i = 0; i < be32(b + ext + 12); i++, o += be32(b + o + 4))
        if (be32(b + o) == ACM_EXT_SEC_QUOTAS)
            return o;
    return 0;
}

/* A corrupted QUOTAS section refuses the whole blob; the old policy stays. */
static void corrupt_blobs(void)
{
    const uint32_t size = (uint32_t)sizeof(blob_quota_test);
    uint32_t q = quotas_section(blob_quota_test);
    xtf_check(q != 0, "the test policy has no quotas section");
    struct acm_setpolicy sp;
    static const struct { const char *what; uint32_t off; uint32_t value; } cases[] = {
        {"fields", 12, ACM_QUOTA_FIELDS + 1},
        {"rows", 8, 3},
        {"type", 0, 5},
        {"len", 4, 8},
    };
    unsigned refused = 0;
    for (unsigned i = 0; q && i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(buf, blob_quota_test, size);
        put_be32(buf + q + cases[i].off, cases[i].value);
        long rc = acm_setpolicy(buf, size, ACM_MODE_REFUSE, NULL, 0, &sp);
        xtf_check(rc == -XEN_EINVAL, "quota section %s corrupted: setpolicy returned %ld", cases[i].what, rc);
        refused += rc == -XEN_EINVAL;
    }
    /* A section that limits nothing (every cell unlimited) is not a valid encoding either. */
    memcpy(buf, blob_quota_test, size);
    uint32_t rows = be32(buf + q + 8);
    for (uint32_t c = 0; q && c < rows * ACM_QUOTA_FIELDS; c++)
        put_be32(buf + q + 16 + 4 * c, ACM_QUOTA_UNLIMITED);
    long rc = acm_setpolicy(buf, size, ACM_MODE_REFUSE, NULL, 0, &sp);
    xtf_check(rc == -XEN_EINVAL, "a quotas section that limits nothing: setpolicy returned %ld", rc);
    refused += rc == -XEN_EINVAL;
    uint32_t len = 0;
    xtf_check(acm_getpolicy(buf, sizeof(buf), &len) == 0 && len == size && !memcmp(buf, blob_quota_test, size),
              "the live policy changed");
    printf("quota: %u corrupted quota sections refused, old policy kept\n", refused);
}

/*
 * Under a policy without limits the label rows' sums are not kept (hv/core/quota.c); every
 * policy load rebuilds them from what each domain holds. Three small domains made under
 * quota-none.toml still count when quota-test.toml comes back: exactly three more fit (six in
 * all, as in memory()), not six more.
 */
static void limits_dropped_and_back(void)
{
    struct acm_setpolicy sp;
    domid_t ids[CAP];
    long rc = acm_setpolicy(blob_quota_none, sizeof(blob_quota_none), ACM_MODE_REFUSE, NULL, 0, &sp);
    xtf_check_eq(rc, 0);
    unsigned before = 0;
    while (before < 3 && create(BLOB_QUOTA_NONE_SSID_SMALL, "small", 128, &ids[before]) == 0)
        before++;
    rc = acm_setpolicy(blob_quota_test, sizeof(blob_quota_test), ACM_MODE_REFUSE, NULL, 0, &sp);
    xtf_check_eq(rc, 0);
    unsigned after = before;
    while (after < CAP && create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &ids[after]) == 0)
        after++;
    printf("quota: small created %u without limits, then %u more with them\n", before, after - before);
    kill_all(ids, after);
}

/*
 * RAM of 1 MiB less k pages for k = 0, 1, ...: the RAM's charge passes, and of what the creation
 * takes after it (page tables, the start-info and shared-info pages) the first k fit, so each k
 * refuses a later step, until the domain fits whole. Each refused creation must give back the
 * slot it was built in (the next domain gets the same id, the one a probe got before) and every
 * frame it was charged (as many 128 KiB domains fit afterwards as fit the label's quota). Role
 * `starve`, the only domain of its boot (tests/scenarios/quota_starve.toml): no other domain
 * ends meanwhile and frees a slot of a lower id.
 */
static void starve_each_step(void)
{
    domid_t probe, d;
    xtf_check_eq(create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &probe), 0);
    kill_all(&probe, 1);
    unsigned refused = 0, k;
    long rc = 0;
    for (k = 0; k <= 24; k++) {
        rc = create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 1024 - 4 * k, &d);
        if (rc != -XEN_ENOMEM)
            break;
        refused++;
    }
    printf("quota: small of 1 MiB less k pages: refused for k < %u, then rc=%ld\n", refused, rc);
    if (rc == 0) {
        xtf_check(d == probe, "the domain that fits got id %u, the probe had %u: a refused one kept its slot",
                  d, probe);
        kill_all(&d, 1);
    }
    xtf_check_eq(create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &d), 0);
    xtf_check(d == probe, "a domain after the refusals got id %u, the probe had %u", d, probe);
    kill_all(&d, 1);
    /* The label's quota whole again: as many 128 KiB domains fit as in memory() below. */
    domid_t ids[CAP];
    unsigned n = 0;
    while (n < CAP && (rc = create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &ids[n])) == 0)
        n++;
    printf("quota: small created %u after the refusals, then rc=%ld\n", n, rc);
    kill_all(ids, n);
}

/* Label small (1 MiB) fills up; label big (64 MiB) still creates; all comes back at death. */
/*
 * A relabel moves what the domain holds to its new label's row (quota_relabel): with one of the
 * n small ones relabelled to big, small has room for exactly one more of them; relabelled back,
 * small is full again. Charges left behind or never moved show as a create that fits when it
 * should not or the other way round (and, at the deaths, as a row given back more than it holds).
 */
static void relabel_moves_charges(const domid_t *ids, unsigned n)
{
    if (!n)
        return;
    long away = acm_relabel(ids[0], BLOB_QUOTA_TEST_SSID_BIG, NULL);
    domid_t more[2];
    long first = away ? away : create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &more[0]);
    long second = first ? first : create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &more[1]);
    printf("quota: one small relabelled to big: rc=%ld, then a small rc=%ld, another rc=%ld\n", away, first, second);
    if (!first)
        kill_all(more, second ? 1 : 2);
    long back = acm_relabel(ids[0], BLOB_QUOTA_TEST_SSID_SMALL, NULL);
    long full = back ? back : create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &more[0]);
    printf("quota: relabelled back to small: rc=%ld, then a small rc=%ld\n", back, full);
    if (!full)
        kill_all(more, 1);
}

/*
 * A worker boss creates is charged to its own row and to boss's (its creator's). Relabelled to
 * boss, the creator's own label, it is charged once, in its own row: boss's row still holds 2
 * (boss and the worker) and one more worker fits, a second does not; relabelled back to worker,
 * the same. A creator's row left charged, or charged twice, shows as one worker fewer or more.
 */
static void boss(void)
{
    domid_t w, more[2];
    long rc = create(BLOB_QUOTA_RELABEL_SSID_WORKER, "worker", 128, &w);
    if (rc) {
        printf("quota: boss could not create its worker: rc=%ld\n", rc);
        return;
    }
    static const uint32_t labels[] = {BLOB_QUOTA_RELABEL_SSID_BOSS, BLOB_QUOTA_RELABEL_SSID_WORKER};
    static const char *const names[] = {"boss", "worker"};
    for (unsigned i = 0; i < ARRAY_SIZE(labels); i++) {
        long to = acm_relabel(w, labels[i], NULL);
        long first = to ? to : create(BLOB_QUOTA_RELABEL_SSID_WORKER, "worker", 128, &more[0]);
        long second = first ? first : create(BLOB_QUOTA_RELABEL_SSID_WORKER, "worker", 128, &more[1]);
        printf("quota: boss's worker relabelled to %s: rc=%ld, then a worker rc=%ld, another rc=%ld\n", names[i], to,
               first, second);
        if (!first)
            kill_all(more, second ? 1 : 2);
    }
    kill_all(&w, 1);
}

static void memory(void)
{
    domid_t ids[CAP];
    unsigned n = 0;
    /* First, RAM that fits small's 1 MiB with 16 KiB (4 frames) to spare, and the tables and info
     * pages that map it do not: the RAM's charge passes at once, a page table's or an info page's
     * is refused; the domain is refused whole, and all it was charged comes back (as many small
     * ones fit after it as the test expects). */
    long rc = create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 1024 - 16, &ids[0]);
    printf("quota: small of 1 MiB less 16 KiB: rc=%ld\n", rc);
    if (rc == 0)
        kill_all(ids, 1);
    while (n < CAP && (rc = create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &ids[n])) == 0)
        n++;
    printf("quota: small created %u, then rc=%ld\n", n, rc);
    domid_t other;
    rc = create(BLOB_QUOTA_TEST_SSID_BIG, "big", 128, &other);
    printf("quota: big creates beside it: rc=%ld\n", rc);
    if (rc == 0) {
        /* Metering: what the hypervisor charged the child, read under read_state. */
        struct moat_domain_stats st;
        xtf_check_eq(domctl_getstats(other, &st), 0);
        printf("quota: big child meters: pages=%lu frames=%u ports=%u\n", (unsigned long)st.nr_pages,
               st.frames_charged, st.ports);
        /* Its share, read and set by domctl (system holds read_state and pause over it). */
        struct moat_domctl_sched sc;
        xtf_check(domctl_getsched(other, &sc) == 0 && sc.weight == 256 && sc.cap == 0, "default share");
        xtf_check_eq(domctl_setsched(other, 512, 30), 0);
        xtf_check(domctl_getsched(other, &sc) == 0 && sc.weight == 512 && sc.cap == 30, "share set");
        xtf_check_eq(domctl_setsched(other, 512, 101), -XEN_EINVAL);
        xtf_check_eq(domctl_setsched(other, 65536, 0), -XEN_EINVAL);
        xtf_check_eq(domctl_setsched(DOMID_SELF, 512, 0), -XEN_EINVAL);
        printf("quota: share of the child read and set: weight=%u cap=%u\n", sc.weight, sc.cap);
        /* The edges: the largest weight and cap are accepted; weight 0 means the default. */
        struct moat_domctl_sched edge;
        xtf_check_eq(domctl_setsched(other, 65535, 100), 0);
        xtf_check(domctl_getsched(other, &edge) == 0 && edge.weight == 65535 && edge.cap == 100, "largest share");
        xtf_check_eq(domctl_setsched(other, 0, 0), 0);
        xtf_check(domctl_getsched(other, &edge) == 0 && edge.weight == 256 && edge.cap == 0, "weight 0: default");
        kill_all(&other, 1);
    }
    /* 8 MiB, within a label's share under mitigate=pools, created and destroyed: its frames go
     * back to the free list, from where the next domain's RAM is taken first. */
    domid_t large;
    rc = create(BLOB_QUOTA_TEST_SSID_BIG, "big", 8 * 1024, &large);
    printf("quota: big of 8 MiB: rc=%ld\n", rc);
    if (rc == 0)
        kill_all(&large, 1);
    /* 16 MiB: within big's quota (64 MiB). Under mitigate=pools more than a label's share of
     * the frames (a tenth of them in this scenario's 128 MiB): refused like exhausted memory,
     * and what it took comes back (the small ones below fit again either way). Half of it
     * comes from the free list (the 8 MiB domain's frames), charged to the pool as much as
     * frames never handed out are. */
    rc = create(BLOB_QUOTA_TEST_SSID_BIG, "big", 16 * 1024, &large);
    printf("quota: big of 16 MiB: rc=%ld\n", rc);
    if (rc == 0)
        kill_all(&large, 1);
    relabel_moves_charges(ids, n);
    kill_all(ids, n);
    /* Every frame the dead ones were charged came back: as many fit again. */
    unsigned again = 0;
    while (again < CAP && create(BLOB_QUOTA_TEST_SSID_SMALL, "small", 128, &ids[again]) == 0)
        again++;
    printf("quota: small created %u again after the deaths\n", again);
    kill_all(ids, again);
}

static void mgr(void)
{
    domid_t ids[CAP];
    unsigned n = 0;
    long rc = 0;
    while (n < CAP && (rc = create(BLOB_QUOTA_TEST_SSID_TENANT, "tenant", 128, &ids[n])) == 0)
        n++;
    printf("quota: mgr created %u tenants, then rc=%ld\n", n, rc);
    /* Its read_state covers tenants only: its own and a tenant's meters, not lim's (domain 2). */
    struct moat_domain_stats st;
    xtf_check_eq(domctl_getstats(DOMID_SELF, &st), 0);
    xtf_check(st.hypercalls[__HYPERVISOR_domctl] >= n + 1, "domctl calls counted: %u", st.hypercalls[__HYPERVISOR_domctl]);
    if (n)
        xtf_check_eq(domctl_getstats(ids[0], &st), 0);
    /* lim (domain 2) may have ended already and its id gone to one of our tenants: then ask
     * about ctl (domain 0), which is no tenant either and is still at its memory rounds then. */
    domid_t other = 2;
    for (unsigned i = 0; i < n; i++)
        if (ids[i] == other)
            other = 0;
    xtf_check_eq(domctl_getstats(other, &st), -XEN_EPERM);
    xtf_check_eq(domctl_setsched(other, 512, 10), -XEN_EPERM); /* no pause permission over it */
    struct moat_domctl_sched sc;
    xtf_check_eq(domctl_getsched(other, &sc), -XEN_EPERM);
    printf("quota: mgr reads the meters of itself and its tenants, not of others\n");
    kill_all(ids, n);
}

/* Ports, grant frames and mappings until the label's quota (or CAP) stops them; held already:
 * the ports the caller holds before it starts. */
static void objects_from(const char *who, unsigned held)
{
    unsigned ports = held;
    long rc = 0;
    while (ports < CAP) {
        struct evtchn_alloc_unbound a = {.dom = DOMID_SELF, .remote_dom = DOMID_SELF};
        if ((rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &a)) != 0)
            break;
        ports++;
    }
    printf("quota: %s allocated %u ports, then rc=%ld\n", who, ports, ports < CAP ? rc : 0L);
    int16_t two = gnttab_setup(table, 2, 2);
    int16_t one = two == GNTST_okay ? GNTST_okay : gnttab_setup(table, 1, 2);
    printf("quota: %s grant table of 2 frames: %s; of 1: %s\n", who, gnttab_status_name(two), gnttab_status_name(one));
    unsigned maps = 0;
    int16_t st = GNTST_okay;
    for (unsigned i = 0; i < 8 && st == GNTST_okay; i++) {
        grant_ref_t ref = gnttab_grant_access(SELF, shared[i], false);
        grant_handle_t h;
        st = gnttab_map(SELF, ref, gnttab_va_alloc(), false, &h);
        maps += st == GNTST_okay;
    }
    printf("quota: %s mapped %u grants, then %s\n", who, maps, st == GNTST_okay ? "no limit" : gnttab_status_name(st));
}

static void objects(const char *who) { objects_from(who, 0); }

/* After objects(): a closed port gives its one unit of the label's quota back, exactly one. */
static void port_given_back(void)
{
    struct evtchn_close c = {.port = 1};
    long closed = HYPERVISOR_event_channel_op(EVTCHNOP_close, &c);
    struct evtchn_alloc_unbound a = {.dom = DOMID_SELF, .remote_dom = DOMID_SELF};
    long again = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &a);
    long more = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &a);
    printf("quota: lim closed port 1 (rc=%ld): again rc=%ld, then rc=%ld\n", closed, again, more);
}

#define SYNC_WAIT_NS (60ULL * 1000 * 1000 * 1000)

/* Raw event-channel calls: the event library's handler table would not fit this image into the
 * 128 KiB children that the memory quota counts. */
static bool pending(evtchn_port_t p) { return (((volatile uint64_t *)shared_info->evtchn_pending)[p / 64] >> (p % 64)) & 1; }

/* Waits until port p is pending (it is, when the other end sent), then clears it. */
static bool wait_event(evtchn_port_t p)
{
    uint64_t deadline = now_ns() + SYNC_WAIT_NS;
    while (!pending(p)) {
        if (now_ns() >= deadline)
            return false;
        struct sched_poll poll = {.ports = (uint64_t)(uintptr_t)&p, .nr_ports = 1, .timeout = deadline};
        HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
    }
    __atomic_fetch_and(&shared_info->evtchn_pending[p / 64], ~(1ULL << (p % 64)), __ATOMIC_SEQ_CST);
    return true;
}

static long send(evtchn_port_t p)
{
    struct evtchn_send s = {.port = p};
    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &s);
}

/*
 * Two labels with the same quotas: hog spends all of zone-a's while peer waits, then peer spends
 * zone-b's while hog still holds everything. Their one channel is the first port of each (held
 * 1 in the counts). Were the charges counted for all labels together, or to the wrong label,
 * peer would get less than its quota.
 */
static void hog(void)
{
    struct evtchn_bind_interdomain b = {.remote_dom = (domid_t)cmdline_ulong("peer", DOMID_INVALID), .remote_port = 1};
    long rc;
    uint64_t deadline = now_ns() + SYNC_WAIT_NS;
    /* peer allocates its port 1 for us as its first act: retry until it has */
    while ((rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &b)) != 0 && now_ns() < deadline)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    if (rc != 0) {
        xtf_failure("Fail: connecting to peer: %ld\n", rc);
        return;
    }
    objects_from("hog", 1);
    xtf_check_eq(send(b.local_port), 0);                                   /* peer: your turn */
    xtf_check(wait_event(b.local_port), "peer did not finish");             /* peer is done */
}

static void peer(void)
{
    struct evtchn_alloc_unbound a = {.dom = DOMID_SELF, .remote_dom = (domid_t)cmdline_ulong("hog", DOMID_INVALID)};
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &a);
    if (rc != 0 || a.port != 1) {
        xtf_failure("Fail: the channel for hog: rc=%ld port %u\n", rc, a.port);
        return;
    }
    if (!wait_event(a.port)) { /* hog has spent all of zone-a's */
        xtf_failure("Fail: hog never said go\n");
        return;
    }
    printf("quota: peer starts while hog holds all of its label's quota\n");
    objects_from("peer", 1);
    xtf_check_eq(send(a.port), 0);
}

void test_main(void)
{
    char role[8];
    if (!cmdline_get("role", role, sizeof(role))) {
        xtf_error("Error: no role= on the command line\n");
        return;
    }
    if (!strcmp(role, "sleep")) {
        for (;;)
            HYPERVISOR_sched_op(SCHEDOP_block, NULL);
    } else if (!strcmp(role, "ctl")) {
        corrupt_blobs();
        memory();
    } else if (!strcmp(role, "limits")) {
        limits_dropped_and_back();
    } else if (!strcmp(role, "starve")) {
        starve_each_step();
    } else if (!strcmp(role, "mgr")) {
        mgr();
    } else if (!strcmp(role, "lim") || !strcmp(role, "free")) {
        objects(role);
        if (!strcmp(role, "lim"))
            port_given_back();
    } else if (!strcmp(role, "boss")) {
        boss();
    } else if (!strcmp(role, "hog")) {
        hog();
    } else if (!strcmp(role, "peer")) {
        peer();
    } else {
        xtf_error("Error: unknown role '%s'\n", role);
        return;
    }
    xtf_success(NULL);
}
