// SPDX-License-Identifier: MIT
// A granting domain that does what its tester tells it (gnt_rpc.h), then checks Xen's promise to
// granters: once the tester is gone (dead, or never connected), no grant is left marked in use
// (GTF_reading/GTF_writing clear, acceptance test 33) and every grant can be ended.
//   peer=<domid>   the tester (required)
//   data=<n>       data pages (default 16, at most MAX_DATA)
//   frames=<n>     grant-table frames to register (default 1)
// It survives its channel being revoked (relabelling): it offers a fresh port whenever the old
// one stops being connected while the tester lives.
#include <moat/gnttab.h>
#include <moat/test.h>

#include "gnt_rpc.h"

#define MAX_DATA 128
#define WAIT_NS (10 * NS_PER_MS)
#define CONNECT_TIMEOUT_NS (60 * NS_PER_SEC)

static uint8_t table_pages[4][GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t ctl_page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t data[MAX_DATA + 3][GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));

static struct gnt_rpc *ctl = (struct gnt_rpc *)ctl_page;
static domid_t tester;
static unsigned nr_data;
static evtchn_port_t port;
static bool ever_connected;

static void fill(unsigned page, uint32_t pattern)
{
    uint32_t *w = (uint32_t *)data[page];
    for (unsigned i = 0; i < GUEST_PAGE_SIZE / 4; i++)
        w[i] = pattern;
}

static uint32_t port_status(void)
{
    struct evtchn_status st = { .dom = DOMID_SELF, .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, &st) == 0 ? st.status : EVTCHNSTAT_closed;
}

/* alloc_unbound is refused while the tester's label shares nothing with ours: try again later. */
static void offer_port(void)
{
    struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = tester };
    if (HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op) == 0) {
        port = op.port;
        __atomic_store_n(&ctl->port, port, __ATOMIC_RELEASE);
    } else {
        port = 0;
    }
}

static bool tester_alive(void)
{
    /* The only question an unprivileged domain can ask about another: bad_domain once it is gone. */
    return gnttab_query_size(tester, NULL, NULL) != GNTST_bad_domain;
}

static void notify(void)
{
    struct evtchn_send s = { .port = port };
    HYPERVISOR_event_channel_op(EVTCHNOP_send, &s);
}

static int32_t execute(uint32_t cmd, uint32_t ref, uint32_t arg, uint32_t arg2, bool *exit_now)
{
    struct grant_entry_v1 *e = gnttab_entry(ref);
    uint32_t page = ref - GNT_DATA_REF;
    switch (cmd) {
    case GNT_CMD_FLAGS:
        return e ? gnttab_flags(ref) : -1;
    case GNT_CMD_READ:
        return page < nr_data + 3 && arg < GUEST_PAGE_SIZE / 4 ? (int32_t)((uint32_t *)data[page])[arg] : -1;
    case GNT_CMD_WRITE:
        if (page >= nr_data + 3 || arg >= GUEST_PAGE_SIZE / 4)
            return -1;
        ((volatile uint32_t *)data[page])[arg] = arg2;
        return 0;
    case GNT_CMD_END:
        return gnttab_end_access(ref) ? 1 : 0;
    case GNT_CMD_GRANT:
        if (page >= nr_data + 3)
            return -1;
        gnttab_grant_ref(ref, (domid_t)arg, gnttab_pfn_of(data[page]), arg2 != 0);
        return 0;
    case GNT_CMD_REWRITE:
        /* In place, as a hostile granter would: no end-access first. */
        if (!e || arg >= nr_data + 3)
            return -1;
        e->frame = (uint32_t)gnttab_pfn_of(data[arg]);
        __atomic_store_n(&e->flags, (uint16_t)arg2, __ATOMIC_RELEASE);
        return 0;
    case GNT_CMD_EXIT:
        *exit_now = true;
        return 0;
    case GNT_CMD_COPY_OWN: {
        static uint32_t word;
        return gnttab_copy_from_ref(DOMID_SELF, ref, 0, &word, sizeof(word));
    }
    default:
        return -1;
    }
}

static void serve(void)
{
    uint64_t give_up = now_ns() + CONNECT_TIMEOUT_NS;
    uint32_t seen = 0;
    for (;;) {
        if (port)
            __atomic_fetch_and(&shared_info->evtchn_pending[port / 64], ~(1ull << (port % 64)), __ATOMIC_SEQ_CST);
        uint32_t seq = __atomic_load_n(&ctl->seq, __ATOMIC_ACQUIRE);
        if (seq != seen) {
            bool exit_now = false;
            ctl->result = execute(ctl->cmd, ctl->ref, ctl->arg, ctl->arg2, &exit_now);
            seen = seq;
            __atomic_store_n(&ctl->ack, seq, __ATOMIC_RELEASE);
            notify();
            if (exit_now) {
                xtf_success("peer: exiting on request, grants still live\n");
                xtf_exit();
            }
            continue;
        }
        uint32_t status = port ? port_status() : EVTCHNSTAT_closed;
        if (status == EVTCHNSTAT_interdomain)
            ever_connected = true;
        if (!tester_alive())
            return;
        if (status != EVTCHNSTAT_interdomain && status != EVTCHNSTAT_unbound) {
            /* Our channel was taken away (revoked) or never made: offer a new one. */
            if (port) {
                struct evtchn_close c = { .port = port };
                HYPERVISOR_event_channel_op(EVTCHNOP_close, &c);
            }
            offer_port();
        } else if (status == EVTCHNSTAT_unbound) {
            /* Not only once we saw it connected: on several CPUs the tester may bind and have it
             * revoked between two of our looks. */
            struct evtchn_status st = { .dom = DOMID_SELF, .port = port };
            HYPERVISOR_event_channel_op(EVTCHNOP_status, &st);
            if (st.u.unbound.dom != tester) { /* revoked: unbound to no one */
                struct evtchn_close c = { .port = port };
                HYPERVISOR_event_channel_op(EVTCHNOP_close, &c);
                offer_port();
            }
        }
        if (!ever_connected && now_ns() > give_up) {
            xtf_error("Error: the tester never connected\n");
            return;
        }
        evtchn_port_t p = port;
        sched_poll(p ? &p : NULL, p ? 1 : 0, now_ns() + WAIT_NS);
    }
}

/* Acceptance test 33 and the end-access rule: with the tester gone, nothing may still be in use. */
static void check_all_released(void)
{
    unsigned last = GNT_INVALID_REF(nr_data);
    for (grant_ref_t ref = GNT_CTL_REF; ref < last; ref++) {
        uint16_t f = gnttab_flags(ref);
        xtf_check(!(f & (GTF_reading | GTF_writing)), "ref %u still in use after the tester died: flags %#x", ref, f);
        if ((f & GTF_type_mask) == GTF_permit_access)
            xtf_check(gnttab_end_access_free(ref), "ref %u: end access failed", ref);
    }
    printf("peer: %u grants released and ended\n", last - GNT_CTL_REF);
}

void test_main(void)
{
    tester = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    nr_data = (unsigned)cmdline_ulong("data", 16);
    unsigned frames = (unsigned)cmdline_ulong("frames", 1);
    if (tester == DOMID_INVALID || nr_data > MAX_DATA || frames == 0 || frames > 4) {
        xtf_error("Error: usage: peer=<domid> [data=n<=%u] [frames=1..4]\n", MAX_DATA);
        return;
    }
    int16_t st = gnttab_setup(table_pages, frames, 4);
    if (st != GNTST_okay) {
        xtf_error("Error: setup_table: %s\n", gnttab_status_name(st));
        return;
    }
    for (unsigned i = 0; i < nr_data; i++)
        fill(i, GNT_PATTERN(i));
    fill(nr_data, GNT_PATTERN_RO);
    fill(nr_data + 1, GNT_PATTERN(0xf0));
    ctl->magic = GNT_RPC_MAGIC;
    ctl->nr_data = nr_data;
    offer_port();
    if (!port) /* the MAC policy lets us share nothing with the tester: go on, to be refused by */
        printf("peer: alloc_unbound for d%u refused\n", tester);
    for (grant_ref_t r = GNT_CTL_REF; r <= GNT_INVALID_REF(nr_data); r++)
        gnttab_claim_ref(r);
    for (unsigned i = 0; i < nr_data; i++)
        gnttab_grant_ref(GNT_DATA_REF + i, tester, gnttab_pfn_of(data[i]), false);
    gnttab_grant_ref(GNT_RO_REF(nr_data), tester, gnttab_pfn_of(data[nr_data]), true);
    gnttab_grant_ref(GNT_FOREIGN_REF(nr_data), GNT_OTHER_DOMID, gnttab_pfn_of(data[nr_data + 1]), false);
    gnttab_grant_ref(GNT_CTL_REF, tester, gnttab_pfn_of(ctl_page), false); /* last: the tester waits for it */
    printf("peer: granted %u pages to d%u, port %u\n", nr_data + 3, tester, port);
    serve();
    check_all_released();
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
