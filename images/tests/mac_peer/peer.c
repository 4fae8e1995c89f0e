// SPDX-License-Identifier: MIT
// A MAC test peer (tests/mac): a child of the mac_ctl controller, or a boot domain of the
// permission scenario. What it does is chosen by mode= on its command line:
//   sleep                 block until destroyed (the default)
//   exit                  power off at once
//   flags                 print start_info's flags, then power off (a created domain is never
//                         marked privileged: tests/mac/test_errors.py)
//   grant to=D refs=N     grant refs 8..8+N-1 (one data page) to domain D, then sleep
//   maptouch from=D ref=R map D's ref R, then keep reading it: a revocation must fault (#PF)
//   watch                 wait for an interdomain channel, send on it (seen), then wait until
//                         its end is revoked
//                         (unbound to no one, and pending): print what it saw, power off
//   bind from=D           bind the first port D offers us (D allocated it for us, or the
//                         controller did for D), then sleep
//   loop                  a loopback channel: allocate a port for ourselves and bind it, then sleep
//   virq                  bind VIRQ_DOM_EXC (needs read_state), then sleep
//   noperm other=D, reader other=D, limited   privileged operations without the permission
//                                             (perm.c)
#include <moat/evtchn.h>
#include <moat/test.h>
#include <public/event_channel.h>
#include <public/grant_table.h>
#include <public/sched.h>

#include "peer.h"

static void sleep_forever(void)
{
    for (;;)
        sleep_ns(NS_PER_SEC);
}

#define MAX_GRANT_FRAMES 4
static struct grant_entry_v1 table[MAX_GRANT_FRAMES][GNTTAB_ENTRIES_PER_FRAME] __attribute__((aligned(4096)));
static volatile uint64_t data[GUEST_PAGE_SIZE / 8] __attribute__((aligned(4096)));

static uint64_t pfn_of(const volatile void *p) { return ((uint64_t)(uintptr_t)p - GUEST_RAM_VA) / GUEST_PAGE_SIZE; }

static void grant(void)
{
    domid_t to = (domid_t)cmdline_ulong("to", DOMID_INVALID);
    uint32_t refs = (uint32_t)cmdline_ulong("refs", 1);
    uint32_t entries = GNTTAB_NR_RESERVED_ENTRIES + refs;
    uint32_t frames = (entries + GNTTAB_ENTRIES_PER_FRAME - 1) / GNTTAB_ENTRIES_PER_FRAME;
    if (frames > MAX_GRANT_FRAMES) {
        xtf_error("Error: %u refs need too many frames\n", refs);
        return;
    }
    data[0] = 0x6772616e746564ULL; /* "granted" */
    /* Entries first, then the table: once the controller sees the frames, every entry is there. */
    for (uint32_t r = GNTTAB_NR_RESERVED_ENTRIES; r < entries; r++) {
        struct grant_entry_v1 *e = &table[r / GNTTAB_ENTRIES_PER_FRAME][r % GNTTAB_ENTRIES_PER_FRAME];
        e->domid = to;
        e->frame = (uint32_t)pfn_of(data);
        e->flags = GTF_permit_access;
    }
    uint64_t pfns[MAX_GRANT_FRAMES];
    for (uint32_t i = 0; i < frames; i++)
        pfns[i] = pfn_of(table[i]);
    struct gnttab_setup_table s = { .dom = DOMID_SELF, .nr_frames = frames, .frame_list = (uint64_t)(uintptr_t)pfns };
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1);
    if (rc || s.status != GNTST_okay) {
        xtf_error("Error: setup_table returned %ld/%d\n", rc, s.status);
        return;
    }
    printf("granted %u refs to %u\n", refs, to);
    sleep_forever();
}

static void maptouch(void)
{
    domid_t from = (domid_t)cmdline_ulong("from", DOMID_INVALID);
    grant_ref_t ref = (grant_ref_t)cmdline_ulong("ref", GNTTAB_NR_RESERVED_ENTRIES);
    struct gnttab_map_grant_ref m = { .host_addr = GUEST_GRANT_VA, .flags = GNTMAP_host_map | GNTMAP_readonly,
                                      .ref = ref, .dom = from };
    uint64_t give_up = now_ns() + 10 * NS_PER_SEC;
    do {
        m.status = GNTST_general_error;
        HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &m, 1);
        if (m.status == GNTST_okay)
            break;
        sleep_ns(NS_PER_MS);
    } while (now_ns() < give_up);
    if (m.status != GNTST_okay) {
        xtf_error("Error: mapping ref %u of %u: status %d\n", ref, from, m.status);
        return;
    }
    volatile uint64_t *page = (volatile uint64_t *)GUEST_GRANT_VA;
    printf("mapped ref %u of %u at %#lx: %#lx\n", ref, from, (unsigned long)GUEST_GRANT_VA, (unsigned long)page[0]);
    give_up = now_ns() + 30 * NS_PER_SEC;
    uint64_t sum = 0;
    while (now_ns() < give_up) {
        sum += page[0]; /* faults once the mapping is revoked */
        sleep_ns(NS_PER_MS);
    }
    xtf_failure("Fail: the mapping was never revoked (read %lu times)\n", (unsigned long)sum);
}

static bool status(evtchn_port_t p, struct evtchn_status *st)
{
    memset(st, 0, sizeof(*st));
    st->dom = DOMID_SELF;
    st->port = p;
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, st) == 0;
}

static bool pending(evtchn_port_t p)
{
    return __atomic_load_n(&shared_info->evtchn_pending[p / 64], __ATOMIC_SEQ_CST) & (1ULL << (p % 64));
}

static void watch(void)
{
    struct evtchn_status st;
    evtchn_port_t port = 0;
    domid_t peer = DOMID_INVALID;
    uint64_t give_up = now_ns() + 60 * NS_PER_SEC;
    while (!port && now_ns() < give_up) {
        for (evtchn_port_t p = 1; p < 64 && !port; p++)
            if (status(p, &st) && st.status == EVTCHNSTAT_interdomain) {
                port = p;
                peer = st.u.interdomain.dom;
            }
        if (!port)
            sleep_ns(NS_PER_MS);
    }
    if (!port) {
        xtf_error("Error: no channel was ever bound\n");
        return;
    }
    printf("bound: port %u to domain %u\n", port, peer);
    /* Tell the peer we have seen the channel: it revokes it only after that, since a channel
     * revoked before we first looked would never be seen bound (a loaded host, two CPUs). */
    if (evtchn_send(port) != 0) {
        xtf_error("Error: send on port %u failed\n", port);
        return;
    }
    /* A send from the peer makes the port pending too: only the state change counts. */
    while (now_ns() < give_up) {
        if (status(port, &st) && st.status != EVTCHNSTAT_interdomain) {
            bool pend = pending(port);
            printf("revoked: port %u status %u remote %#x pending %d\n", port, st.status, st.u.unbound.dom, pend);
            xtf_check(st.status == EVTCHNSTAT_unbound, "status %u, expected unbound", st.status);
            xtf_check(st.u.unbound.dom == DOMID_INVALID, "unbound to %#x, expected no one", st.u.unbound.dom);
            xtf_check(pend, "the revoked port is not pending");
            if (xtf_result() <= XTF_SUCCESS)
                xtf_success(NULL);
            return;
        }
        sleep_ns(NS_PER_MS);
    }
    xtf_failure("Fail: port %u was never revoked\n", port);
}

/* The policy-change sweep's children (tests/mac/test_sweep.py): each sets up one kind of sharing
 * for the controller to find, says so, and sleeps until destroyed or revoked. */
static void bind_from(void)
{
    domid_t from = (domid_t)cmdline_ulong("from", DOMID_INVALID);
    uint64_t give_up = now_ns() + 30 * NS_PER_SEC;
    while (now_ns() < give_up) {
        /* Only the port allocated for us binds: the others are refused without a change. */
        for (evtchn_port_t p = 1; p < 64; p++) {
            struct evtchn_bind_interdomain b = { .remote_dom = from, .remote_port = p };
            if (HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &b) == 0) {
                printf("bound: port %u to domain %u port %u\n", b.local_port, from, p);
                sleep_forever();
            }
        }
        sleep_ns(NS_PER_MS);
    }
    xtf_error("Error: domain %u never offered a port\n", from);
}

static void loop(void)
{
    struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = DOMID_SELF };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &a);
    struct evtchn_bind_interdomain b = { .remote_dom = DOMID_SELF, .remote_port = a.port };
    if (rc == 0)
        rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &b);
    if (rc) {
        xtf_error("Error: a loopback channel: %ld\n", rc);
        return;
    }
    printf("loop: port %u <-> port %u\n", a.port, b.local_port);
    sleep_forever();
}

static void virq(void)
{
    struct evtchn_bind_virq v = { .virq = VIRQ_DOM_EXC, .vcpu = 0 };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &v);
    if (rc) {
        xtf_error("Error: bind VIRQ_DOM_EXC: %ld\n", rc);
        return;
    }
    printf("virq: VIRQ_DOM_EXC on port %u\n", v.port);
    sleep_forever();
}

void test_main(void)
{
    char mode[16] = "sleep";
    cmdline_get("mode", mode, sizeof(mode));
    if (!strcmp(mode, "sleep"))
        sleep_forever();
    else if (!strcmp(mode, "exit"))
        xtf_success(NULL);
    else if (!strcmp(mode, "flags")) {
        printf("peer: start_info flags=%#x\n", (unsigned)start_info->flags);
        xtf_success(NULL);
    }
    else if (!strcmp(mode, "reboot")) /* a reboot is an ending as expected, like a poweroff */
        sched_shutdown(SHUTDOWN_reboot);
    else if (!strcmp(mode, "grant"))
        grant();
    else if (!strcmp(mode, "maptouch"))
        maptouch();
    else if (!strcmp(mode, "watch"))
        watch();
    else if (!strcmp(mode, "bind"))
        bind_from();
    else if (!strcmp(mode, "loop"))
        loop();
    else if (!strcmp(mode, "virq"))
        virq();
    else if (!strcmp(mode, "noperm"))
        peer_noperm();
    else if (!strcmp(mode, "reader"))
        peer_reader();
    else if (!strcmp(mode, "limited"))
        peer_limited();
    else
        xtf_error("Error: unknown mode '%s'\n", mode);
}
