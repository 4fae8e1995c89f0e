// SPDX-License-Identifier: MIT
// vchan: a byte stream over one granted page and one event channel (moat/vchan.h, docs/vchan.md).
// Every value the peer controls (its index, the orders, the port, the live bytes) is loaded once
// into a local and checked before use; our own indices live in struct vchan and are only stored
// to the page, never read back from it.
#include <moat/gnttab.h>
#include <moat/guest.h>
#include <moat/vchan.h>

#define CONNECT_POLL_NS (1 * NS_PER_MS)

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* ---- event channel (raw ops: the vchan needs only these few) ---- */

static long evtchn_alloc_unbound(domid_t remote, evtchn_port_t *port)
{
    struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = remote };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);
    *port = op.port;
    return rc;
}

static long evtchn_bind(domid_t remote, evtchn_port_t remote_port, evtchn_port_t *port)
{
    struct evtchn_bind_interdomain op = { .remote_dom = remote, .remote_port = remote_port };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);
    *port = op.local_port;
    return rc;
}

static void evtchn_notify(evtchn_port_t port)
{
    struct evtchn_send op = { .port = port };
    HYPERVISOR_event_channel_op(EVTCHNOP_send, &op);
}

static void evtchn_close_port(evtchn_port_t port)
{
    struct evtchn_close op = { .port = port };
    HYPERVISOR_event_channel_op(EVTCHNOP_close, &op);
}

static bool evtchn_connected(evtchn_port_t port)
{
    struct evtchn_status op = { .dom = DOMID_SELF, .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, &op) == 0 && op.status == EVTCHNSTAT_interdomain;
}

/* Cleared before each attempt, so an event that arrives after the attempt ends the next poll. */
static void clear_pending(evtchn_port_t port)
{
    __atomic_fetch_and(&shared_info->evtchn_pending[port / 64], ~(1ull << (port % 64)), __ATOMIC_SEQ_CST);
}

static void wait_event(struct vchan *v, uint64_t deadline_ns)
{
    sched_poll(&v->port, 1, deadline_ns);
}

/* ---- the shared page ---- */

static uint8_t *peer_notify_byte(struct vchan *v) { return v->server ? &v->shared->cli_notify : &v->shared->srv_notify; }
static uint8_t *own_notify_byte(struct vchan *v) { return v->server ? &v->shared->srv_notify : &v->shared->cli_notify; }
static struct vchan_ring_shared *rd_shared(struct vchan *v) { return v->server ? &v->shared->left : &v->shared->right; }
static struct vchan_ring_shared *wr_shared(struct vchan *v) { return v->server ? &v->shared->right : &v->shared->left; }

/* Asks the peer for an event after its next write (WRITE) or read (READ). */
static void request_notify(struct vchan *v, uint8_t bit)
{
    __atomic_fetch_or(peer_notify_byte(v), bit, __ATOMIC_SEQ_CST); /* posted before we re-check indices */
}

/* Sends an event if the peer asked for this kind (fetch-and-clear: one event per request). */
static void send_notify(struct vchan *v, uint8_t bit)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* our index update is visible before we look */
    if (__atomic_fetch_and(own_notify_byte(v), (uint8_t)~bit, __ATOMIC_SEQ_CST) & bit)
        evtchn_notify(v->port);
}

static bool order_pair_ok(unsigned a, unsigned b)
{
    /* One page: one ring at 1024 (order 10) and one at 2048 (order 11). */
    return (a == 10 && b == 11) || (a == 11 && b == 10);
}

static void set_rings(struct vchan *v, unsigned left_order, unsigned right_order)
{
    uint8_t *page = (uint8_t *)v->shared;
    unsigned rd = v->server ? left_order : right_order, wr = v->server ? right_order : left_order;
    v->rd_ring = page + (1u << rd);
    v->rd_size = 1u << rd;
    v->wr_ring = page + (1u << wr);
    v->wr_size = 1u << wr;
}

/* ---- set-up ---- */

int vchan_server_init(struct vchan *v, void *page, domid_t client, grant_ref_t ref, unsigned read_order,
                      unsigned write_order)
{
    memset(v, 0, sizeof(*v));
    if (((uintptr_t)page & (GUEST_PAGE_SIZE - 1)) || !order_pair_ok(read_order, write_order))
        return VCHAN_EINVAL;
    if (!gnttab_claim_ref(ref))
        return VCHAN_EGRANT;
    if (evtchn_alloc_unbound(client, &v->port) < 0) {
        gnttab_free_ref(ref);
        return VCHAN_EEVTCHN;
    }
    v->server = true;
    v->peer = client;
    v->ref = ref;
    v->shared = page;
    memset(page, 0, GUEST_PAGE_SIZE);
    struct vchan_interface *s = v->shared;
    s->left_order = (uint16_t)read_order;
    s->right_order = (uint16_t)write_order;
    s->cli_live = VCHAN_LIVE_WAITING;
    s->srv_live = VCHAN_LIVE_CONNECTED;
    s->cli_notify = VCHAN_NOTIFY_WRITE; /* wake us when the client writes */
    s->srv_port = v->port;
    set_rings(v, read_order, write_order);
    gnttab_grant_ref(ref, client, gnttab_pfn_of(page), false); /* publishes after the page is ready */
    return 0;
}

int vchan_server_wait(struct vchan *v, uint64_t timeout_ns)
{
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        clear_pending(v->port);
        uint8_t live = __atomic_load_n(&v->shared->cli_live, __ATOMIC_ACQUIRE);
        if (live == VCHAN_LIVE_CONNECTED)
            return 0;
        if (live != VCHAN_LIVE_WAITING)
            return VCHAN_EPROTO;
        if (now_ns() >= deadline)
            return VCHAN_ETIMEDOUT;
        wait_event(v, deadline);
    }
}

int vchan_client_init(struct vchan *v, domid_t server, grant_ref_t ref, uint64_t timeout_ns)
{
    memset(v, 0, sizeof(*v));
    v->peer = server;
    v->map_va = gnttab_va_alloc();
    if (!v->map_va)
        return VCHAN_EGRANT;
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        int16_t st = gnttab_map(server, ref, v->map_va, false, &v->handle);
        if (st == GNTST_okay)
            break;
        /* Not published yet (no table, ref beyond it, entry not valid): wait for the server. */
        bool not_yet = st == GNTST_general_error || st == GNTST_bad_gntref;
        if (!not_yet || now_ns() >= deadline) {
            gnttab_va_free(v->map_va);
            return not_yet ? VCHAN_ETIMEDOUT : VCHAN_EGRANT;
        }
        sleep_ns(CONNECT_POLL_NS);
    }
    v->shared = (struct vchan_interface *)(uintptr_t)v->map_va;
    struct vchan_interface *s = v->shared;
    /* Read once: the server may change the page under us, but we keep what we checked. */
    unsigned left = __atomic_load_n(&s->left_order, __ATOMIC_ACQUIRE);
    unsigned right = __atomic_load_n(&s->right_order, __ATOMIC_ACQUIRE);
    uint8_t cli_live = __atomic_load_n(&s->cli_live, __ATOMIC_ACQUIRE);
    uint8_t srv_live = __atomic_load_n(&s->srv_live, __ATOMIC_ACQUIRE);
    evtchn_port_t srv_port = __atomic_load_n(&s->srv_port, __ATOMIC_ACQUIRE);
    int err = 0;
    if (!order_pair_ok(left, right) || cli_live != VCHAN_LIVE_WAITING || srv_live != VCHAN_LIVE_CONNECTED)
        err = VCHAN_EPROTO;
    else if (evtchn_bind(server, srv_port, &v->port) < 0)
        err = VCHAN_EEVTCHN;
    if (err) {
        gnttab_unmap(v->handle, v->map_va);
        gnttab_va_free(v->map_va);
        v->shared = NULL;
        return err;
    }
    set_rings(v, left, right);
    v->rd_cons = __atomic_load_n(&s->right.cons, __ATOMIC_ACQUIRE);
    v->wr_prod = __atomic_load_n(&s->left.prod, __ATOMIC_ACQUIRE);
    __atomic_store_n(&s->srv_notify, VCHAN_NOTIFY_WRITE, __ATOMIC_RELEASE); /* wake us when the server writes */
    __atomic_store_n(&s->cli_live, VCHAN_LIVE_CONNECTED, __ATOMIC_RELEASE);
    evtchn_notify(v->port);
    return 0;
}

/* ---- data ---- */

int vchan_data_ready(struct vchan *v)
{
    if (v->broken)
        return VCHAN_EPROTO;
    uint32_t prod = __atomic_load_n(&rd_shared(v)->prod, __ATOMIC_ACQUIRE); /* the one fetch */
    uint32_t ready = prod - v->rd_cons;
    if (ready > v->rd_size) {
        v->broken = true; /* more than a ring's worth: the peer lies; never trust this ring again */
        return VCHAN_EPROTO;
    }
    return (int)ready;
}

int vchan_buffer_space(struct vchan *v)
{
    if (v->broken)
        return VCHAN_EPROTO;
    uint32_t cons = __atomic_load_n(&wr_shared(v)->cons, __ATOMIC_ACQUIRE); /* the one fetch */
    uint32_t used = v->wr_prod - cons;
    if (used > v->wr_size) {
        v->broken = true; /* the peer claims to have read what we never wrote */
        return VCHAN_EPROTO;
    }
    return (int)(v->wr_size - used);
}

int vchan_read(struct vchan *v, void *buf, size_t len)
{
    int ready = vchan_data_ready(v);
    if (ready <= 0)
        return ready;
    uint32_t n = len < (size_t)ready ? (uint32_t)len : (uint32_t)ready;
    uint32_t off = v->rd_cons & (v->rd_size - 1), first = min_u32(n, v->rd_size - off);
    memcpy(buf, v->rd_ring + off, first);
    memcpy((uint8_t *)buf + first, v->rd_ring, n - first);
    v->rd_cons += n;
    __atomic_store_n(&rd_shared(v)->cons, v->rd_cons, __ATOMIC_RELEASE); /* after the copy */
    send_notify(v, VCHAN_NOTIFY_READ);
    return (int)n;
}

int vchan_write(struct vchan *v, const void *buf, size_t len)
{
    int space = vchan_buffer_space(v);
    if (space <= 0)
        return space;
    uint32_t n = len < (size_t)space ? (uint32_t)len : (uint32_t)space;
    uint32_t off = v->wr_prod & (v->wr_size - 1), first = min_u32(n, v->wr_size - off);
    memcpy(v->wr_ring + off, buf, first);
    memcpy(v->wr_ring, (const uint8_t *)buf + first, n - first);
    v->wr_prod += n;
    __atomic_store_n(&wr_shared(v)->prod, v->wr_prod, __ATOMIC_RELEASE); /* after the data */
    send_notify(v, VCHAN_NOTIFY_WRITE);
    return (int)n;
}

bool vchan_peer_live(struct vchan *v)
{
    uint8_t live = __atomic_load_n(v->server ? &v->shared->cli_live : &v->shared->srv_live, __ATOMIC_ACQUIRE);
    return live == VCHAN_LIVE_CONNECTED && evtchn_connected(v->port);
}

typedef int (*vchan_op)(struct vchan *v, void *buf, size_t len);

static int write_op(struct vchan *v, void *buf, size_t len) { return vchan_write(v, buf, len); }

/* Moves all of buf with op, sleeping on the event channel whenever no progress is possible. */
static int blocking(struct vchan *v, vchan_op op, uint8_t want, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        clear_pending(v->port);
        int n = op(v, buf + done, len - done);
        if (n == 0) {
            request_notify(v, want);
            n = op(v, buf + done, len - done); /* the peer may have acted before it saw the request */
        }
        if (n < 0)
            return n;
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (!vchan_peer_live(v))
            return VCHAN_ECLOSED;
        wait_event(v, 0);
    }
    return 0;
}

int vchan_send(struct vchan *v, const void *buf, size_t len)
{
    return blocking(v, write_op, VCHAN_NOTIFY_READ, (uint8_t *)(uintptr_t)buf, len);
}

int vchan_recv(struct vchan *v, void *buf, size_t len) { return blocking(v, vchan_read, VCHAN_NOTIFY_WRITE, buf, len); }

int vchan_close(struct vchan *v, uint64_t timeout_ns)
{
    if (!v->shared)
        return 0;
    __atomic_store_n(v->server ? &v->shared->srv_live : &v->shared->cli_live, VCHAN_LIVE_CLOSED, __ATOMIC_RELEASE);
    evtchn_notify(v->port);
    evtchn_close_port(v->port);
    if (!v->server) {
        gnttab_unmap(v->handle, v->map_va);
        gnttab_va_free(v->map_va);
        v->shared = NULL;
        return 0;
    }
    /* The page stays granted until the client has unmapped it: only then may it be reused. */
    uint64_t deadline = now_ns() + timeout_ns;
    while (!gnttab_end_access(v->ref)) {
        if (now_ns() >= deadline)
            return VCHAN_ETIMEDOUT;
        sleep_ns(CONNECT_POLL_NS);
    }
    gnttab_free_ref(v->ref);
    v->shared = NULL;
    return 0;
}
