// SPDX-License-Identifier: MIT
// netif: Ethernet frames over a link's two shared rings (moat/netif.h, docs/networking.md). Every
// value the peer controls is loaded once into a local and checked before use; our own indices live
// in struct netif and are only stored to the shared page, never read back from it.
#include <moat/evtchn.h>
#include <moat/gnttab.h>
#include <moat/guest.h>
#include <moat/netif.h>

#define RING_MASK (NETIF_RING_SIZE - 1)

/* ---- pages for the rings and the grant table: taken from the heap, never given back ---- */

static uint64_t heap_next, heap_end;

static void *alloc_pages(unsigned n)
{
    if (!heap_next) {
        heap_next = (start_info->heap_start + GUEST_PAGE_SIZE - 1) & ~(uint64_t)(GUEST_PAGE_SIZE - 1);
        heap_end = start_info->stack_top - (GUEST_STACK_PAGES + 1) * GUEST_PAGE_SIZE;
    }
    uint64_t size = (uint64_t)n * GUEST_PAGE_SIZE;
    if (heap_next + size > heap_end)
        return NULL;
    void *p = (void *)(uintptr_t)heap_next;
    heap_next += size;
    memset(p, 0, size);
    return p;
}

/* The grant table must hold the refs of every link we grant; set it up (or grow it) once. */
static int ensure_grant_table(void)
{
    uint32_t need = 0;
    for (unsigned i = 0; i < netif_links(); i++) {
        const struct start_link *l = netif_link(i);
        if (l->role == LINK_ROLE_GRANTER && l->first_ref + LINK_REF_STRIDE > need)
            need = l->first_ref + LINK_REF_STRIDE;
    }
    if (gnttab_nr_entries() >= need)
        return 0;
    unsigned frames = (need + GNTTAB_ENTRIES_PER_FRAME - 1) / GNTTAB_ENTRIES_PER_FRAME;
    if (gnttab_nr_entries())
        return gnttab_grow(frames) == GNTST_okay ? 0 : NETIF_EGRANT; /* the guest's own table */
    void *table = alloc_pages(frames);
    if (!table)
        return NETIF_EINVAL;
    return gnttab_setup(table, frames, frames) == GNTST_okay ? 0 : NETIF_EGRANT;
}

/* ---- links in the start info ---- */

unsigned netif_links(void)
{
    return start_info->nr_links <= START_MAX_LINKS ? start_info->nr_links : START_MAX_LINKS;
}

const struct start_link *netif_link(unsigned index)
{
    return index < netif_links() ? &start_info->links[index] : NULL;
}

char *netif_format_mac(char *buf, const uint8_t *mac)
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return buf;
}

/* ---- small helpers ---- */

static uint8_t *buffer(struct netif_ring *r, uint32_t id)
{
    return r->page[id / NETIF_BUFS_PER_PAGE] + (id % NETIF_BUFS_PER_PAGE) * NETIF_BUF_SIZE;
}

static int broke(struct netif *nif, const char *why)
{
    if (!nif->broken)
        nif->why = why;
    nif->broken = true;
    return NETIF_EPROTO;
}

static int usable(struct netif *nif)
{
    if (nif->broken)
        return NETIF_EPROTO;
    if (nif->closed)
        return NETIF_ECLOSED;
    return nif->connected ? 0 : NETIF_ENOTCONN;
}

/*
 * Whether netif_recv may take frames: on a usable link, and also (0) on one the peer closed or died
 * on while we were connected, as long as we have not closed it ourselves and the rings are in our
 * own pages (the granter). A peer publishes its last requests before its CLOSED state (or before it
 * dies), so frames it sent just before going are still in the ring; dropping them there would lose
 * them uncounted, which under real parallelism happened whenever the peer closed between our last
 * look at the ring and our look at its state. The mapper stops at once: its view of the granter's
 * pages can be revoked under it by a policy change, and reading a revoked page would fault.
 */
static int receivable(struct netif *nif)
{
    int rc = usable(nif);
    return rc == NETIF_ECLOSED && nif->draining && nif->connected ? 0 : rc;
}

/* The peer went (closed, died, or its channel was revoked): ours is closed for sending, and the
 * granter keeps what the peer had posted by then for netif_recv. Called after the acquiring load
 * that saw it go, so every request it published before is visible to the load here. */
static void peer_went(struct netif *nif, const char *why)
{
    nif->closed = true;
    nif->why = why;
    if (nif->role == LINK_ROLE_GRANTER && nif->rx.s) {
        nif->rx_end = __atomic_load_n(&nif->rx.s->req_prod, __ATOMIC_ACQUIRE);
        nif->draining = true;
    }
}

static void notify(evtchn_port_t port) { evtchn_send(port); }

static uint8_t *own_state(struct netif *nif)
{
    return nif->role == LINK_ROLE_GRANTER ? &nif->ctrl->granter_state : &nif->ctrl->mapper_state;
}

static uint8_t peer_state(struct netif *nif)
{
    return __atomic_load_n(nif->role == LINK_ROLE_GRANTER ? &nif->ctrl->mapper_state : &nif->ctrl->granter_state,
                           __ATOMIC_ACQUIRE);
}

/* Ring r of the control page, its buffer pages from `pages` (the 33 link pages, in ref order). */
static void ring_init(struct netif_ring *r, struct netif_ctrl *ctrl, unsigned which, uint8_t *const *pages,
                      evtchn_port_t port, bool sender)
{
    memset(r, 0, sizeof(*r));
    r->s = &ctrl->ring[which];
    for (unsigned i = 0; i < NETIF_BUF_PAGES; i++)
        r->page[i] = pages[1 + which * NETIF_BUF_PAGES + i];
    r->port = port;
    r->sender = sender;
}

static void rings_init(struct netif *nif, uint8_t *const *pages)
{
    bool granter = nif->role == LINK_ROLE_GRANTER;
    /* Ring 0 carries the granter's frames, ring 1 the mapper's. */
    ring_init(granter ? &nif->tx : &nif->rx, nif->ctrl, NETIF_RING_G2M, pages, nif->ports[NETIF_RING_G2M], granter);
    ring_init(granter ? &nif->rx : &nif->tx, nif->ctrl, NETIF_RING_M2G, pages, nif->ports[NETIF_RING_M2G], !granter);
}

/* ---- set-up ---- */

static int granter_start(struct netif *nif)
{
    int rc = ensure_grant_table();
    if (rc)
        return rc;
    nif->pages = alloc_pages(NETIF_PAGES);
    if (!nif->pages)
        return NETIF_EINVAL;
    for (unsigned i = 0; i < NETIF_PAGES; i++)
        if (!gnttab_claim_ref(nif->first_ref + i)) {
            while (i--)
                gnttab_free_ref(nif->first_ref + i);
            return NETIF_EGRANT;
        }
    nif->ctrl = (struct netif_ctrl *)nif->pages;
    for (unsigned r = 0; r < 2; r++) {
        long port = evtchn_alloc_unbound(nif->peer); /* the MAC decides: -EACCES for a forbidden link */
        if (port < 0) {
            if (r)
                evtchn_close(nif->ports[0]);
            nif->ports[0] = 0;
            for (unsigned i = 0; i < NETIF_PAGES; i++)
                gnttab_free_ref(nif->first_ref + i);
            nif->ctrl = NULL;
            return NETIF_EEVTCHN;
        }
        nif->ports[r] = (evtchn_port_t)port;
    }
    struct netif_ctrl *c = nif->ctrl;
    c->magic = NETIF_MAGIC;
    c->version = NETIF_VERSION;
    for (unsigned r = 0; r < 2; r++) {
        c->port[r] = nif->ports[r];
        c->ring[r].req_event = 1; /* Xen's SHARED_RING_INIT: an event for the first of each */
        c->ring[r].rsp_event = 1;
    }
    c->granter_state = NETIF_STATE_READY;
    uint8_t *pages[NETIF_PAGES];
    for (unsigned i = 0; i < NETIF_PAGES; i++)
        pages[i] = nif->pages + (uint64_t)i * GUEST_PAGE_SIZE;
    rings_init(nif, pages);
    /* The buffers first, the control page last: once it is visible, everything it names is. */
    for (unsigned i = NETIF_PAGES; i-- > 0;)
        gnttab_grant_ref(nif->first_ref + i, nif->peer, gnttab_pfn_of(pages[i]), false);
    return 0;
}

int netif_start(struct netif *nif, unsigned index)
{
    memset(nif, 0, sizeof(*nif));
    const struct start_link *l = netif_link(index);
    if (!l || l->role > LINK_ROLE_MAPPER)
        return NETIF_EINVAL;
    nif->link = l;
    nif->index = index;
    nif->role = l->role;
    nif->peer = l->peer;
    nif->first_ref = l->first_ref;
    memcpy(nif->mac, l->mac, LINK_MAC_LEN);
    memcpy(nif->peer_mac, l->peer_mac, LINK_MAC_LEN);
    if (nif->role == LINK_ROLE_GRANTER) {
        if (l->first_ref < LINK_REF_BASE || l->first_ref > GNTTAB_MAX_FRAMES * GNTTAB_ENTRIES_PER_FRAME - LINK_REF_STRIDE)
            return NETIF_EINVAL;
        int rc = granter_start(nif);
        if (rc)
            return rc;
    }
    nif->started = true;
    return 0;
}

/* Undoes every mapping (a revoked one reports revoked: gone either way) and frees the addresses. */
static void unmap_all(struct netif *nif)
{
    for (unsigned i = 0; i < NETIF_PAGES; i++) {
        if ((nif->mapped & (1ull << i))) {
            int16_t st = gnttab_unmap(nif->handle[i], nif->va[i]);
            if (st != GNTST_okay && st != GNTST_revoked)
                continue; /* keep the address: something is still there */
            nif->mapped &= ~(1ull << i);
        }
        if (nif->va[i]) {
            gnttab_va_free(nif->va[i]);
            nif->va[i] = 0;
        }
    }
    nif->ctrl = NULL;
}

static int mapper_connect(struct netif *nif)
{
    for (unsigned i = 0; i < NETIF_PAGES; i++)
        if (!nif->va[i] && !(nif->va[i] = gnttab_va_alloc())) {
            unmap_all(nif);
            return NETIF_EGRANT;
        }
    int16_t st = gnttab_map(nif->peer, nif->first_ref, nif->va[0], false, &nif->handle[0]);
    if (st == GNTST_general_error || st == GNTST_bad_gntref)
        return NETIF_EAGAIN; /* not published yet */
    if (st != GNTST_okay) {
        unmap_all(nif);
        return NETIF_EGRANT; /* permission_denied: the MAC refused a forbidden link */
    }
    nif->mapped = 1;
    nif->ctrl = (struct netif_ctrl *)(uintptr_t)nif->va[0];
    struct netif_ctrl *c = nif->ctrl;
    /* Read once: the granter may change the page under us, but we keep what we checked. */
    uint32_t magic = __atomic_load_n(&c->magic, __ATOMIC_ACQUIRE);
    uint32_t version = __atomic_load_n(&c->version, __ATOMIC_ACQUIRE);
    uint8_t state = __atomic_load_n(&c->granter_state, __ATOMIC_ACQUIRE);
    evtchn_port_t ports[2] = {__atomic_load_n(&c->port[0], __ATOMIC_ACQUIRE),
                              __atomic_load_n(&c->port[1], __ATOMIC_ACQUIRE)};
    if (magic != NETIF_MAGIC || version != NETIF_VERSION || state != NETIF_STATE_READY) {
        unmap_all(nif);
        return broke(nif, "the granter's control page is not a ready netif");
    }
    struct gnttab_map_grant_ref ops[NETIF_PAGES - 1];
    for (unsigned i = 1; i < NETIF_PAGES; i++)
        ops[i - 1] = (struct gnttab_map_grant_ref){.host_addr = nif->va[i], .flags = GNTMAP_host_map,
                                                   .ref = nif->first_ref + i, .dom = nif->peer};
    long rc = gnttab_map_batch(ops, NETIF_PAGES - 1);
    bool all = rc == 0;
    for (unsigned i = 1; i < NETIF_PAGES && rc == 0; i++) {
        if (ops[i - 1].status == GNTST_okay) {
            nif->handle[i] = ops[i - 1].handle;
            nif->mapped |= 1ull << i;
        } else {
            all = false;
        }
    }
    if (!all) {
        unmap_all(nif);
        return NETIF_EGRANT;
    }
    for (unsigned r = 0; r < 2; r++) {
        long port = evtchn_bind_interdomain(nif->peer, ports[r]);
        if (port < 0) {
            if (r)
                evtchn_close(nif->ports[0]);
            nif->ports[0] = 0;
            unmap_all(nif);
            return NETIF_EEVTCHN;
        }
        nif->ports[r] = (evtchn_port_t)port;
        evtchn_port_clear(nif->ports[r]); /* a new binding starts pending: not a message */
    }
    uint8_t *pages[NETIF_PAGES];
    for (unsigned i = 0; i < NETIF_PAGES; i++)
        pages[i] = (uint8_t *)(uintptr_t)nif->va[i];
    rings_init(nif, pages);
    __atomic_store_n(&c->mapper_state, NETIF_STATE_CONNECTED, __ATOMIC_RELEASE);
    notify(nif->ports[0]);
    notify(nif->ports[1]);
    nif->connected = true;
    return 0;
}

int netif_try_connect(struct netif *nif)
{
    if (!nif->started)
        return NETIF_EINVAL;
    if (nif->connected || nif->broken || nif->closed)
        return receivable(nif); /* 0 while a peer that went still has frames for us */
    if (nif->role == LINK_ROLE_MAPPER)
        return mapper_connect(nif);
    uint8_t state = peer_state(nif);
    if (state == NETIF_STATE_CONNECTED) {
        nif->connected = true;
        return 0;
    }
    if (state == NETIF_STATE_CLOSED) {
        /* The mapper publishes CLOSED only once connected: it connected, maybe sent frames, and
         * closed before we looked (seen on four CPUs). Connected, then gone: netif_recv gives
         * what it sent, then NETIF_ECLOSED. */
        nif->connected = true;
        peer_went(nif, "the peer closed the link");
        return 0;
    }
    if (state != NETIF_STATE_NONE) {
        nif->closed = true;
        nif->why = "the mapper closed the link before it connected";
        return NETIF_ECLOSED;
    }
    return NETIF_EAGAIN;
}

int netif_connect(struct netif *nif, uint64_t deadline_ns)
{
    for (;;) {
        int rc = netif_try_connect(nif);
        if (rc != NETIF_EAGAIN)
            return rc;
        if (now_ns() >= deadline_ns)
            return NETIF_ETIMEDOUT;
        if (nif->role == LINK_ROLE_GRANTER) {
            struct netif *one = nif;
            evtchn_port_clear(nif->ports[0]);
            if (peer_state(nif) == NETIF_STATE_NONE)
                netif_wait(&one, 1, deadline_ns); /* the mapper notifies both ports once connected */
        } else {
            sleep_ns(NS_PER_MS); /* the granter publishes without an event: look again soon */
        }
    }
}

int netif_open(struct netif *nif, unsigned link, uint64_t deadline_ns)
{
    int rc = netif_start(nif, link);
    return rc ? rc : netif_connect(nif, deadline_ns);
}

/* ---- the rings ---- */

/* Sender: takes the peer's responses, which give buffers back. */
static int reap(struct netif *nif)
{
    struct netif_ring *r = &nif->tx;
    uint32_t prod = __atomic_load_n(&r->s->rsp_prod, __ATOMIC_ACQUIRE); /* the one fetch */
    if (prod - r->rsp_cons > r->req_prod_pvt - r->rsp_cons)
        return broke(nif, "the peer posted more responses than we made requests");
    while (r->rsp_cons != prod) {
        union netif_slot slot = {.raw = __atomic_load_n(&r->s->ring[r->rsp_cons & RING_MASK].raw, __ATOMIC_ACQUIRE)};
        if (slot.rsp.id != (r->rsp_cons & RING_MASK))
            return broke(nif, "a response names the wrong buffer");
        if (slot.rsp.status != NETIF_RSP_OKAY)
            nif->stats.tx_errors++;
        r->rsp_cons++;
    }
    return 0;
}

/* Publishes our producer index; an event only if the peer asked for one (Xen's check_notify). */
static void push(uint32_t *shared_prod, const uint32_t *shared_event, uint32_t old, uint32_t new, evtchn_port_t port)
{
    __atomic_store_n(shared_prod, new, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the index is visible before we read the peer's wish */
    uint32_t event = __atomic_load_n(shared_event, __ATOMIC_ACQUIRE);
    if ((uint32_t)(new - event) < (uint32_t)(new - old))
        notify(port);
}

int netif_send(struct netif *nif, const void *frame, size_t len)
{
    int rc = usable(nif);
    if (rc)
        return rc;
    if (len < NETIF_FRAME_MIN || len > NETIF_FRAME_MAX)
        return NETIF_EINVAL;
    struct netif_ring *r = &nif->tx;
    if ((rc = reap(nif)))
        return rc;
    if (r->req_prod_pvt - r->rsp_cons >= NETIF_RING_SIZE) {
        nif->stats.tx_full++;
        return NETIF_EAGAIN;
    }
    uint32_t id = r->req_prod_pvt & RING_MASK;
    memcpy(buffer(r, id), frame, len);
    union netif_slot slot = {.req = {.id = (uint16_t)id, .len = (uint16_t)len, .flags = 0}};
    __atomic_store_n(&r->s->ring[id].raw, slot.raw, __ATOMIC_RELEASE);
    uint32_t old = r->req_prod_pvt++;
    push(&r->s->req_prod, &r->s->req_event, old, r->req_prod_pvt, r->port);
    nif->stats.tx_frames++;
    nif->stats.tx_bytes += len;
    return 0;
}

static void respond(struct netif_ring *r, uint16_t id, int16_t status)
{
    union netif_slot slot = {.rsp = {.id = id, .status = status, .pad = 0}};
    __atomic_store_n(&r->s->ring[r->rsp_prod_pvt & RING_MASK].raw, slot.raw, __ATOMIC_RELEASE);
    uint32_t old = r->rsp_prod_pvt++;
    push(&r->s->rsp_prod, &r->s->rsp_event, old, r->rsp_prod_pvt, r->port);
}


/* The peer's request producer, checked: at most a ring's worth ahead of what we consumed. Once the
 * peer has gone, the one it had then: a peer that says CLOSED and goes on posting gets no more. */
static int requests(struct netif *nif, uint32_t *prod)
{
    struct netif_ring *r = &nif->rx;
    *prod = nif->draining ? nif->rx_end : __atomic_load_n(&r->s->req_prod, __ATOMIC_ACQUIRE); /* the one fetch */
    if (*prod - r->req_cons > NETIF_RING_SIZE)
        return broke(nif, "the peer's request producer overran the ring");
    return 0;
}


int netif_recv(struct netif *nif, void *buf, size_t size)
{
    int rc = receivable(nif);
    if (rc)
        return rc;
    if (size < NETIF_FRAME_MAX)
        return NETIF_EINVAL;
    struct netif_ring *r = &nif->rx;
    uint32_t prod;
    if ((rc = requests(nif, &prod)))
        return rc;
    while (r->req_cons != prod) {
        union netif_slot slot = {.raw = __atomic_load_n(&r->s->ring[r->req_cons & RING_MASK].raw, __ATOMIC_ACQUIRE)};
        r->req_cons++;
        uint16_t id = slot.req.id, len = slot.req.len;
        if (id >= NETIF_RING_SIZE || len < NETIF_FRAME_MIN || len > NETIF_FRAME_MAX) {
            nif->stats.rx_errors++;
            respond(r, id, NETIF_RSP_ERROR);
            continue;
        }
        memcpy(buf, buffer(r, id), len); /* the one copy: nobody looks at the shared buffer again */
        respond(r, id, NETIF_RSP_OKAY);
        nif->stats.rx_frames++;
        nif->stats.rx_bytes += len;
        return len;
    }
    return usable(nif); /* 0, or NETIF_ECLOSED once a closed link's last frame is taken */
}

bool netif_rx_ready(struct netif *nif)
{
    uint32_t prod;
    return !receivable(nif) && !requests(nif, &prod) && prod != nif->rx.req_cons;
}

bool netif_tx_room(struct netif *nif)
{
    return !usable(nif) && !reap(nif) && nif->tx.req_prod_pvt - nif->tx.rsp_cons < NETIF_RING_SIZE;
}

/* ---- waiting and the peer's health ---- */

static bool port_bound(evtchn_port_t port)
{
    struct evtchn_status st;
    return port && evtchn_status(DOMID_SELF, port, &st) == 0 && st.status == EVTCHNSTAT_interdomain;
}

bool netif_check_peer(struct netif *nif)
{
    if (nif->broken || nif->closed)
        return false;
    if (!nif->connected)
        return true;
    if (peer_state(nif) == NETIF_STATE_CLOSED)
        peer_went(nif, "the peer closed the link");
    else if (!port_bound(nif->ports[0]) || !port_bound(nif->ports[1]))
        /* A peer that closes stores CLOSED before it closes its ports: if it did both since our
         * first look (seen on four CPUs), the state says so now. */
        peer_went(nif, peer_state(nif) == NETIF_STATE_CLOSED
                           ? "the peer closed the link"
                           : "the peer's channel is gone (it died, or the policy revoked the link)");
    return !nif->closed;
}

bool netif_arm(struct netif *nif, bool want_tx_room)
{
    bool pending = false;
    for (unsigned r = 0; r < 2; r++)
        if (nif->ports[r] && evtchn_port_test_and_clear(nif->ports[r]))
            pending = true;
    if (nif->broken || nif->closed || !nif->started)
        return true;
    if (!nif->connected)
        return netif_try_connect(nif) != NETIF_EAGAIN;
    struct netif_ring *rx = &nif->rx, *tx = &nif->tx;
    __atomic_store_n(&rx->s->req_event, rx->req_cons + 1, __ATOMIC_RELEASE);
    if (want_tx_room)
        __atomic_store_n(&tx->s->rsp_event, tx->rsp_cons + 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* our wish is visible before we look again */
    if (netif_rx_ready(nif) || nif->broken)
        return true;
    if (want_tx_room && netif_tx_room(nif))
        return true;
    /* An event with no work behind it may be the peer going away (a dead peer's port turns
     * unbound and pending): look, so that we never sleep on a link that is gone. */
    if (pending || peer_state(nif) == NETIF_STATE_CLOSED)
        return !netif_check_peer(nif);
    return false;
}

void netif_wait(struct netif *const *nifs, unsigned n, uint64_t deadline_ns)
{
    evtchn_port_t ports[128];
    unsigned count = 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned r = 0; r < 2; r++)
            if (nifs[i]->ports[r] && count < ARRAY_SIZE(ports))
                ports[count++] = nifs[i]->ports[r];
    if (count)
        sched_poll(ports, count, deadline_ns);
    else if (deadline_ns)
        sleep_until(deadline_ns);
}

/* ---- teardown ---- */

/* Ends every grant that is not mapped any more; returns how many are still held. */
static unsigned end_grants(struct netif *nif)
{
    unsigned held = 0;
    for (unsigned i = 0; i < NETIF_PAGES && nif->pages; i++) {
        if (nif->ended & (1ull << i))
            continue;
        if (gnttab_end_access_free(nif->first_ref + i)) {
            nif->ended |= 1ull << i;
            nif->grants_ended++;
        } else {
            held++; /* still mapped by the peer: the page stays granted, and we never reuse it */
        }
    }
    return held;
}

unsigned netif_close(struct netif *nif, uint64_t deadline_ns)
{
    if (!nif->started)
        return 0;
    if (nif->ctrl && !nif->closed_sent) {
        __atomic_store_n(own_state(nif), NETIF_STATE_CLOSED, __ATOMIC_RELEASE);
        nif->closed_sent = true;
    }
    for (unsigned r = 0; r < 2; r++) {
        if (!nif->ports[r])
            continue;
        notify(nif->ports[r]); /* closing does not tell the peer by itself */
        evtchn_close(nif->ports[r]);
        nif->ports[r] = 0;
    }
    nif->connected = false;
    nif->closed = true;
    if (!nif->why)
        nif->why = "closed by us";
    unsigned held = 0;
    if (nif->role == LINK_ROLE_MAPPER) {
        unmap_all(nif);
        for (unsigned i = 0; i < NETIF_PAGES; i++)
            held += (nif->mapped >> i) & 1;
        return held;
    }
    while ((held = end_grants(nif)) && now_ns() < deadline_ns)
        sleep_ns(NS_PER_MS);
    return held;
}
