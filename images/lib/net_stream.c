// SPDX-License-Identifier: MIT
// A windowed UDP stream with a checksum over the small stack (moat/net_stream.h).
#include <moat/guest.h>
#include <moat/net_stream.h>

#define SEQ_LIMIT 0xfffffff0u

void net_stream_gen_init(struct net_stream_gen *g)
{
    g->x = 0x6d6f61742d6e6574ull; /* "moat-net" */
    g->left = 0;
}

uint8_t net_stream_gen_byte(struct net_stream_gen *g)
{
    if (!g->left) {
        g->x ^= g->x << 13;
        g->x ^= g->x >> 7;
        g->x ^= g->x << 17;
        g->word = g->x;
        g->left = 8;
    }
    uint8_t b = (uint8_t)g->word;
    g->word >>= 8;
    g->left--;
    return b;
}

uint64_t net_fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void put64(uint8_t *p, uint64_t v)
{
    net_put32(p, (uint32_t)(v >> 32));
    net_put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)net_get32(p) << 32 | net_get32(p + 4); }

/* ---- receiving (the handler records; the loop answers) ---- */

static void peer_reset(struct net_stream_peer *p, uint32_t ip, uint16_t port)
{
    memset(p, 0, sizeof(*p));
    p->used = true;
    p->ip = ip;
    p->port = port;
    p->fnv = NET_FNV_INIT;
    net_stream_gen_init(&p->gen);
}

static struct net_stream_peer *peer_of(struct net_stream *s, const struct net_udp *d)
{
    struct net_stream_peer *free = NULL;
    for (unsigned i = 0; i < NET_STREAM_PEERS; i++) {
        struct net_stream_peer *p = &s->peers[i];
        if (p->used && p->ip == d->src_ip && p->port == d->sport)
            return p;
        if (!p->used && !free)
            free = p;
    }
    if (free)
        peer_reset(free, d->src_ip, d->sport);
    return free;
}

static void rx_data(struct net_stream *s, struct net_stream_peer *p, uint32_t seq, const uint8_t *data, size_t n)
{
    if (p->fin && seq == 0) /* the sender starts another stream (frames keep their order: no stale 0) */
        peer_reset(p, p->ip, p->port);
    if (p->fin)
        return;
    if (seq != p->next_seq) {
        /* One was lost (a full ring on the way): drop the rest until the sender goes back, and
         * tell it at once where we are. */
        p->ack_due = true;
        return;
    }
    p->next_seq++;
    p->bytes += n;
    s->rx_bytes += n;
    if (s->flags & NET_STREAM_VERIFY) {
        for (size_t i = 0; i < n; i++)
            if (data[i] != net_stream_gen_byte(&p->gen))
                p->bad = true;
        p->fnv = net_fnv1a(p->fnv, data, n);
    }
    if (p->next_seq % NET_STREAM_ACK_EVERY == 0)
        p->ack_due = true;
}

static void handler(struct net_stack *st, const struct net_udp *d, void *ctx)
{
    (void)st;
    struct net_stream *s = ctx;
    if (d->dport == NET_BYE_PORT) {
        if (d->len == 3 && memcmp(d->data, "bye", 3) == 0)
            s->byes++;
        return;
    }
    if (d->dport != NET_STREAM_PORT || d->len < 4)
        return;
    uint32_t word = net_get32(d->data);
    if (word == NET_STREAM_ACK && d->len >= 8) {
        uint32_t next = net_get32(d->data + 4);
        if ((int32_t)(next - s->acked) > 0)
            s->acked = next;
        return;
    }
    /*
     * A FINACK counts only for the stream we send now (its id): an earlier stream's can still
     * come, the answer to its FIN sent again because the first answer was slow, and it would end
     * this stream before its time.
     */
    if (word == NET_STREAM_FINACK && d->len >= 28) {
        if (net_get32(d->data + 4) != s->id)
            return;
        s->finack = true;
        s->finack_ok = net_get32(d->data + 8) == 1;
        s->finack_bytes = get64(d->data + 12);
        s->finack_sum = get64(d->data + 20);
        return;
    }
    struct net_stream_peer *p = peer_of(s, d);
    if (!p)
        return;
    if (word == NET_STREAM_FIN && d->len >= 28) {
        if (!p->fin && net_get32(d->data + 8) != p->next_seq) {
            p->ack_due = true; /* we miss the last datagrams: the sender must go back first */
            return;
        }
        if (!p->fin) {
            p->fin_id = net_get32(d->data + 4);
            p->fin_bytes = get64(d->data + 12);
            p->fin_sum = get64(d->data + 20);
            p->fin = true;
            s->streams_done++;
        }
        /* Again for a repeated FIN (our answer may have been lost), with the id of the FIN we
         * took: a FIN of a stream we do not have yet gets an answer its sender ignores. */
        p->finack_due = true;
        return;
    }
    if (word < SEQ_LIMIT)
        rx_data(s, p, word, d->data + 4, d->len - 4u);
}

/* Sends the acknowledgements the handler asked for. */
static int answer(struct net_stream *s, uint64_t deadline_ns)
{
    for (unsigned i = 0; i < NET_STREAM_PEERS; i++) {
        struct net_stream_peer *p = &s->peers[i];
        uint8_t msg[28];
        int rc = 0;
        if (p->finack_due) {
            bool ok = !p->bad && p->fin_bytes == p->bytes &&
                      (!(s->flags & NET_STREAM_VERIFY) || p->fin_sum == p->fnv);
            net_put32(msg, NET_STREAM_FINACK);
            net_put32(msg + 4, p->fin_id);
            net_put32(msg + 8, ok);
            put64(msg + 12, p->bytes);
            put64(msg + 20, (s->flags & NET_STREAM_VERIFY) ? p->fnv : 0);
            p->finack_due = p->ack_due = false;
            rc = net_udp_send(s->st, p->ip, NET_STREAM_PORT, p->port, msg, 28, deadline_ns);
        } else if (p->ack_due) {
            net_put32(msg, NET_STREAM_ACK);
            net_put32(msg + 4, p->next_seq);
            p->ack_due = false;
            rc = net_udp_send(s->st, p->ip, NET_STREAM_PORT, p->port, msg, 8, deadline_ns);
        }
        if (rc)
            return rc;
    }
    return 0;
}

void net_stream_init(struct net_stream *s, struct net_stack *st, unsigned flags)
{
    memset(s, 0, sizeof(*s));
    s->st = st;
    s->flags = flags;
    s->rto_ns = NET_STREAM_RTO_NS;
    net_set_udp_handler(st, handler, s);
}

/* Runs the stack once (handles what came, or sleeps if nothing did), then answers. */
static int step(struct net_stream *s, uint64_t deadline_ns)
{
    int rc = net_step(s->st, false, deadline_ns);
    return rc ? rc : answer(s, deadline_ns);
}

int net_stream_serve(struct net_stream *s, unsigned streams, unsigned byes, uint64_t deadline_ns)
{
    for (;;) {
        int rc = answer(s, deadline_ns);
        if (rc)
            return rc;
        if (s->streams_done >= streams && s->byes >= byes)
            return 0;
        if (now_ns() >= deadline_ns)
            return NETIF_ETIMEDOUT;
        if ((rc = step(s, deadline_ns)))
            return rc;
    }
}

/* ---- sending ---- */

/* Datagram seq in s->dgram: its sequence number and its bytes from the generator (which it
 * advances); returns their count. */
static unsigned fill(struct net_stream *s, struct net_stream_gen *gen, uint32_t seq, uint64_t bytes, unsigned size)
{
    uint8_t *dgram = s->dgram;
    uint64_t at = (uint64_t)seq * (size - 4);
    unsigned n = (unsigned)(bytes - at < size - 4 ? bytes - at : size - 4);
    net_put32(dgram, seq);
    if (s->flags & NET_STREAM_VERIFY)
        for (unsigned i = 0; i < n; i++)
            dgram[4 + i] = net_stream_gen_byte(gen);
    return n;
}

/*
 * The sender moves from datagram `next` to `to` (the receiver's acknowledgement), the generator
 * `gen` with it; returns `to`. `summed` is the first datagram never sent: leaving it, its state
 * is kept in *front, and coming back to it takes it from there (its slot in at[] holds the
 * datagram a window before it, never sent since). Any other datagram from the oldest
 * unacknowledged one on was sent, its state kept in at[] (no later datagram took its slot).
 */
static uint32_t go_to(uint32_t to, uint32_t next, uint32_t summed, struct net_stream_gen *gen,
                      struct net_stream_gen *front, const struct net_stream_gen *at)
{
    if (next == summed)
        *front = *gen;
    *gen = to == summed ? *front : at[to % NET_STREAM_WINDOW];
    return to;
}

int net_stream_send(struct net_stream *s, uint32_t ip, uint64_t bytes, unsigned size, uint64_t deadline_ns,
                    struct net_stream_result *r)
{
    if (size <= 4 || size > NET_UDP_MAX || !bytes) /* 4 bytes of sequence number, then the data */
        return NETIF_EINVAL;
    /*
     * Go-back-N: the generator's state at each datagram of the window (s->at), to send it again,
     * and (front) at the first datagram never sent, `summed` (go_to). The receiver's
     * acknowledgement, where the sender goes on from, may name that one: the receiver took the
     * whole window, but its acknowledgements came only after the timeout (lost, or late under
     * load), while the sender was sending the window again. All of it is this stream's own (in *s
     * or here, nothing static), so that two streams on two struct net_stream go at once.
     */
    struct net_stream_gen gen, front;
    net_stream_gen_init(&gen);
    front = gen;
    memset(r, 0, sizeof(*r));
    r->checksum = NET_FNV_INIT;
    s->id++; /* a FINACK for our last stream no longer counts */
    s->acked = 0;
    s->finack = false;
    uint32_t total = (uint32_t)((bytes + size - 5) / (size - 4)), next = 0, summed = 0;
    uint64_t t0 = now_ns(), progress = t0, fin_sent = 0;
    uint32_t last_acked = 0;
    while (!s->finack) {
        uint64_t now = now_ns();
        if (now >= deadline_ns)
            return NETIF_ETIMEDOUT;
        if (s->acked != last_acked) {
            last_acked = s->acked;
            progress = now;
            /* After going back, the receiver may say it has more than we are sending again. */
            if (s->acked > next)
                next = go_to(s->acked, next, summed, &gen, &front, s->at);
        } else if (now - progress > s->rto_ns && next != s->acked) {
            /* Nothing acknowledged for a while: something was lost; send again from there. */
            next = go_to(s->acked, next, summed, &gen, &front, s->at);
            progress = now;
            r->resent++;
        }
        if (next < total && next - s->acked < NET_STREAM_WINDOW) {
            s->at[next % NET_STREAM_WINDOW] = gen;
            unsigned n = fill(s, &gen, next, bytes, size);
            if (next == summed) { /* the checksum covers each datagram once, sent again or not */
                r->checksum = (s->flags & NET_STREAM_VERIFY) ? net_fnv1a(r->checksum, s->dgram + 4, n) : 0;
                r->bytes += n;
                summed++;
            }
            int rc = net_udp_send(s->st, ip, NET_STREAM_PORT, NET_STREAM_PORT, s->dgram, 4 + n, deadline_ns);
            if (rc)
                return rc;
            next++;
            r->datagrams++;
            int polled = net_poll(s->st, NETIF_RING_SIZE); /* acknowledgements, without sleeping */
            if (polled < 0)
                return polled;
            continue;
        }
        if (next == total && (!fin_sent || now - fin_sent > s->rto_ns)) {
            uint8_t fin[28];
            net_put32(fin, NET_STREAM_FIN);
            net_put32(fin + 4, s->id);
            net_put32(fin + 8, total);
            put64(fin + 12, bytes);
            put64(fin + 20, (s->flags & NET_STREAM_VERIFY) ? r->checksum : 0);
            int rc = net_udp_send(s->st, ip, NET_STREAM_PORT, NET_STREAM_PORT, fin, sizeof(fin), deadline_ns);
            if (rc)
                return rc;
            fin_sent = now;
        }
        uint64_t wake = now + s->rto_ns;
        int rc = step(s, wake < deadline_ns ? wake : deadline_ns);
        if (rc)
            return rc;
    }
    r->ns = now_ns() - t0;
    r->peer_checksum = s->finack_sum;
    r->match = s->finack_ok && s->finack_bytes == bytes && s->finack_sum == r->checksum;
    return 0;
}

int net_stream_bye(struct net_stream *s, uint32_t ip, uint64_t deadline_ns)
{
    return net_udp_send(s->st, ip, NET_BYE_PORT, NET_BYE_PORT, "bye", 3, deadline_ns);
}
