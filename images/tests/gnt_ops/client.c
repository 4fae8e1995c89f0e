// SPDX-License-Identifier: MIT
// The tester's side of the gnt_peer protocol: connect, one command at a time, waiting.
#include <public/xsm/acm_ops.h>

#include "client.h"

#define CALL_TIMEOUT_NS (10 * NS_PER_SEC)
#define CONNECT_TIMEOUT_NS (30 * NS_PER_SEC)

uint64_t gnt_va(void)
{
    uint64_t va = gnttab_va_alloc();
    if (!va) {
        xtf_error("Error: the grant window is full\n");
        xtf_exit();
    }
    return va;
}

static void clear_pending(evtchn_port_t port)
{
    __atomic_fetch_and(&shared_info->evtchn_pending[port / 64], ~(1ull << (port % 64)), __ATOMIC_SEQ_CST);
}

int gnt_connect(struct gnt_conn *c, domid_t peer)
{
    uint64_t deadline = now_ns() + CONNECT_TIMEOUT_NS;
    c->peer = peer;
    /* Not the window's first page: host_addresses (ops.c, item 13) needs it free, to show that the
     * page just past the window, which a bound off by one would take for it, is refused. */
    uint64_t first = gnt_va();
    c->ctl_va = gnt_va();
    gnttab_va_free(first);
    int16_t st;
    while ((st = gnttab_map(peer, GNT_CTL_REF, c->ctl_va, false, &c->ctl_handle)) != GNTST_okay) {
        /* Waiting is for a peer that has not granted its control page yet (bad_gntref). A denial
         * is the policy's answer, or that of a peer that is gone (the hypervisor does not tell an
         * unprivileged domain that an id is free): no retry changes it, so give up at once rather
         * than after the whole deadline (30 s of a test's time when the peer died starting). */
        if (st == GNTST_permission_denied || now_ns() > deadline) {
            xtf_error("Error: cannot map d%u's control page: %s\n", peer, gnttab_status_name(st));
            return -1;
        }
        sleep_ns(NS_PER_MS);
    }
    c->ctl = (volatile struct gnt_rpc *)c->ctl_va;
    if (c->ctl->magic != GNT_RPC_MAGIC) {
        xtf_error("Error: d%u's control page has no magic\n", peer);
        return -1;
    }
    c->nr_data = c->ctl->nr_data;
    /* The port may be a stale one the peer is about to replace (after a revocation): retry. */
    for (;;) {
        struct evtchn_bind_interdomain b = { .remote_dom = peer, .remote_port = c->ctl->port };
        if (HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &b) == 0) {
            c->port = b.local_port;
            return 0;
        }
        if (now_ns() > deadline) {
            xtf_error("Error: cannot bind d%u's port %u\n", peer, c->ctl->port);
            return -1;
        }
        sleep_ns(NS_PER_MS);
    }
}

int32_t gnt_call(struct gnt_conn *c, uint32_t cmd, uint32_t ref, uint32_t arg, uint32_t arg2)
{
    c->ctl->cmd = cmd;
    c->ctl->ref = ref;
    c->ctl->arg = arg;
    c->ctl->arg2 = arg2;
    uint32_t seq = c->ctl->seq + 1;
    __atomic_store_n(&c->ctl->seq, seq, __ATOMIC_RELEASE);
    struct evtchn_send s = { .port = c->port };
    HYPERVISOR_event_channel_op(EVTCHNOP_send, &s);
    uint64_t deadline = now_ns() + CALL_TIMEOUT_NS;
    for (;;) {
        clear_pending(c->port);
        if (__atomic_load_n(&c->ctl->ack, __ATOMIC_ACQUIRE) == seq)
            return c->ctl->result;
        if (now_ns() > deadline) {
            xtf_error("Error: d%u did not answer command %u\n", c->peer, cmd);
            xtf_exit();
        }
        sched_poll(&c->port, 1, now_ns() + 10 * NS_PER_MS);
    }
}

bool gnt_wait_gone(domid_t dom, uint64_t timeout_ns)
{
    uint64_t deadline = now_ns() + timeout_ns;
    while (gnttab_query_size(dom, NULL, NULL) != GNTST_bad_domain) {
        if (now_ns() > deadline)
            return false;
        sleep_ns(NS_PER_MS);
    }
    return true;
}

long gnt_relabel(uint32_t ssidref, uint32_t *revoked_grants, uint32_t *revoked_evtchn)
{
    struct acm_op op = { .cmd = ACMOP_relabeldoms, .interface_version = ACM_INTERFACE_VERSION };
    op.u.relabel.domid = start_info->domid;
    op.u.relabel.ssidref = ssidref;
    long rc = HYPERVISOR_xsm_op(&op);
    *revoked_grants = op.u.relabel.revoked_grants;
    *revoked_evtchn = op.u.relabel.revoked_evtchn;
    return rc;
}
