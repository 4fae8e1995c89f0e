// SPDX-License-Identifier: MIT
// Host driver for the sender of images/lib/net_stream.c (tests/net/test_stream_sender.py): its
// go-back-N against a model receiver over a fake network whose losses and delays a script
// decides, on a fake clock, so that every interleaving is exact and the same on every run. The
// model receiver takes datagrams in order, as rx_data does, and checks every byte of every
// datagram it sees (duplicates included) against the stream's generator at that datagram's
// position: the sender must never send a sequence number with any bytes but its own. Each sender
// has its own link (stack, network, model receiver); two links can run at once, as coroutines that
// take turns at every call into the stack, so that two streams interleave datagram by datagram;
// or a link's receiver is net_stream.c's own (net_stream_serve), the two ends taking turns. The
// argument picks the runs: go-back (losses), finack (a slow FINACK and the next stream), together
// (two senders at once) or receiver (against the real receiver). Prints "ok" and exits 0, or names
// each run and datagram that went wrong and exits 1.
#define _GNU_SOURCE /* ucontext */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <moat/net_stream.h>

#define RECEIVER_IP NET_IP(10, 0, 0, 1)
#define HDR 4 /* the data header: sequence number */
#define INBOX 4096
#define MAX_SEQ 512 /* more datagrams than any run sends */

/* ---- the fake clock ---- */

static uint64_t clock_ns;

/* Every look at the clock costs a microsecond: time passes while the sender works, as it does. */
uint64_t now_ns(void) { return clock_ns += NS_PER_US; }

/* ---- a link: a sender's stack, the network behind it and the model receiver at its end ---- */

enum script {
    ACKS_LOST_UNTIL_GO_BACK, /* the receiver's acknowledgements past the first, until the sender went back */
    RANDOM_LOSS,             /* data and acknowledgements lost at random */
    SLOW_FINACKS,            /* every FINACK takes 1.5 timeouts to arrive, and what follows it waits */
    SECOND_ZERO_LOST,        /* the first sending of the second stream's datagram 0 */
};

struct link {
    struct net_stack st; /* first: the stack's address is the link's */
    struct net_stream s;
    unsigned size; /* the datagrams' payload: HDR, then size - HDR bytes of the stream */
    struct net_stream_gen at_seq[MAX_SEQ]; /* the generator at each datagram's first byte */
    enum script script;
    uint64_t rng;
    unsigned loss_percent;
    bool saw_go_back;  /* the receiver saw a datagram again */
    unsigned finacks;  /* FINACKs the receiver sent */
    unsigned stale;    /* FINACKs that reached the sender while it sent a later stream */
    unsigned streams;  /* streams the sender began */
    bool zero_lost;    /* SECOND_ZERO_LOST: done */
    /* A link whose receiver is images/lib/net_stream.c's own: the receiver's link (its stack and
     * struct net_stream serving) and the sender's point at each other. */
    struct link *peer;
    bool serving;
    struct {           /* the model receiver */
        uint32_t fin_id, next_seq;
        uint64_t bytes, fnv;
        struct net_stream_gen gen; /* at next_seq's first byte */
        bool fin, bad;
        char why[160];
    } rx;
    /* The inbox (a sender's: acknowledgements, FINACKs; a receiver's: data, FINs), in order, each
     * message due at a time. */
    struct {
        uint8_t data[128];
        uint16_t len;
        uint64_t due;
    } inbox[INBOX];
    unsigned inbox_head, inbox_tail;
    /* running as a coroutine */
    ucontext_t ctx;
    bool done, ok;
};

static struct link links[2];
static struct link *running; /* the coroutine that runs, or NULL: one link alone */
static ucontext_t main_ctx;

static struct link *link_of(struct net_stack *st) { return (struct link *)st; }

static unsigned data_len(const struct link *l) { return l->size - HDR; }

static void positions_init(struct link *l)
{
    net_stream_gen_init(&l->at_seq[0]);
    for (unsigned k = 1; k < MAX_SEQ; k++) {
        l->at_seq[k] = l->at_seq[k - 1];
        for (unsigned i = 0; i < data_len(l); i++)
            net_stream_gen_byte(&l->at_seq[k]);
    }
}

static void rx_restart(struct link *l)
{
    memset(&l->rx, 0, sizeof(l->rx));
    l->rx.fnv = NET_FNV_INIT;
    net_stream_gen_init(&l->rx.gen);
}

/* The other link's turn, if two run: at every call into the stack. */
static void take_turns(void)
{
    if (!running)
        return;
    struct link *me = running, *other = &links[me == &links[0]];
    if (other->done)
        return;
    running = other;
    swapcontext(&me->ctx, &other->ctx);
    running = me;
}

static unsigned random_below(struct link *l, unsigned n)
{
    l->rng ^= l->rng << 13;
    l->rng ^= l->rng >> 7;
    l->rng ^= l->rng << 17;
    return (unsigned)(l->rng % n);
}

/* ACKS_LOST_UNTIL_GO_BACK: the receiver's acknowledgements past the first are lost until the
 * sender has gone back once, so that the sender times out on a window the receiver took whole,
 * goes back, and hears only then (while it sends the window again) that the receiver has it all. */
static bool lose_ack(struct link *l)
{
    if (l->script == ACKS_LOST_UNTIL_GO_BACK)
        return l->rx.next_seq > NET_STREAM_ACK_EVERY && !l->saw_go_back;
    return l->script == RANDOM_LOSS && random_below(l, 100) < l->loss_percent;
}

static bool lose_data(struct link *l, uint32_t seq)
{
    if (l->script == SECOND_ZERO_LOST && seq == 0 && l->streams == 2 && !l->zero_lost)
        return l->zero_lost = true;
    return l->script == RANDOM_LOSS && random_below(l, 100) < l->loss_percent;
}

static void reply(struct link *l, const uint8_t *msg, uint16_t len, uint64_t latency_ns)
{
    if (l->inbox_tail - l->inbox_head == INBOX || len > sizeof(l->inbox[0].data)) {
        fprintf(stderr, "inbox full, or %u bytes\n", len);
        exit(2);
    }
    unsigned i = l->inbox_tail++ % INBOX;
    memcpy(l->inbox[i].data, msg, len);
    l->inbox[i].len = len;
    l->inbox[i].due = clock_ns + latency_ns;
}

static void ack(struct link *l)
{
    if (lose_ack(l))
        return;
    uint8_t msg[8];
    net_put32(msg, NET_STREAM_ACK);
    net_put32(msg + 4, l->rx.next_seq);
    reply(l, msg, sizeof(msg), 0);
}

static void fail(struct link *l, const char *fmt, uint32_t seq)
{
    if (!l->rx.bad)
        snprintf(l->rx.why, sizeof(l->rx.why), fmt, seq, l->rx.next_seq);
    l->rx.bad = true;
}

/* Datagram seq (any, duplicates too) must carry the stream's bytes at seq * data_len. */
static void check_payload(struct link *l, uint32_t seq, const uint8_t *data, size_t n)
{
    if (seq >= MAX_SEQ) {
        fail(l, "datagram %u: beyond any this run sends (next %u)", seq);
        return;
    }
    struct net_stream_gen g = l->at_seq[seq];
    for (size_t i = 0; i < n; i++)
        if (data[i] != net_stream_gen_byte(&g)) {
            fail(l, "datagram %u is not the stream's bytes at its position (the receiver expected %u)", seq);
            return;
        }
}

static void receive_fin(struct link *l, const uint8_t *d)
{
    if (!l->rx.fin && net_get32(d + 8) != l->rx.next_seq) {
        ack(l);
        return;
    }
    if (!l->rx.fin)
        l->rx.fin_id = net_get32(d + 4);
    l->rx.fin = true;
    uint64_t bytes = (uint64_t)net_get32(d + 12) << 32 | net_get32(d + 16);
    uint64_t sum = (uint64_t)net_get32(d + 20) << 32 | net_get32(d + 24);
    uint8_t msg[28];
    net_put32(msg, NET_STREAM_FINACK);
    net_put32(msg + 4, l->rx.fin_id);
    net_put32(msg + 8, !l->rx.bad && bytes == l->rx.bytes && sum == l->rx.fnv);
    net_put32(msg + 12, (uint32_t)(l->rx.bytes >> 32));
    net_put32(msg + 16, (uint32_t)l->rx.bytes);
    net_put32(msg + 20, (uint32_t)(l->rx.fnv >> 32));
    net_put32(msg + 24, (uint32_t)l->rx.fnv);
    /* SLOW_FINACKS: the first FIN's answer comes after the sender sent the FIN again, the second's
     * while the sender sends its next stream. */
    reply(l, msg, sizeof(msg), l->script == SLOW_FINACKS ? l->s.rto_ns * 3 / 2 : 0);
    l->finacks++;
}

static void receive(struct link *l, const uint8_t *d, size_t len)
{
    uint32_t word = net_get32(d);
    if (word == NET_STREAM_FIN) {
        receive_fin(l, d);
        return;
    }
    if (l->rx.fin && word == 0) /* the sender's next stream */
        rx_restart(l);
    check_payload(l, word, d + HDR, len - HDR);
    if (l->rx.fin)
        return;
    if (word != l->rx.next_seq) {
        if (word < l->rx.next_seq)
            l->saw_go_back = true;
        ack(l); /* a gap or a duplicate: the sender hears at once where we are */
        return;
    }
    l->rx.next_seq++;
    l->rx.bytes += len - HDR;
    for (size_t i = HDR; i < len; i++)
        if (d[i] != net_stream_gen_byte(&l->rx.gen))
            fail(l, "datagram %u accepted with bytes that are not the stream's (next %u)", word);
    l->rx.fnv = net_fnv1a(l->rx.fnv, d + HDR, len - HDR);
    if (l->rx.next_seq % NET_STREAM_ACK_EVERY == 0)
        ack(l);
}

/* ---- the stack net_stream_send runs on ---- */

void net_set_udp_handler(struct net_stack *st, net_udp_handler fn, void *ctx)
{
    st->udp = fn;
    st->udp_ctx = ctx;
}

int net_udp_send(struct net_stack *st, uint32_t ip, uint16_t sport, uint16_t dport, const void *data, size_t len,
                 uint64_t deadline_ns)
{
    (void)deadline_ns;
    struct link *l = link_of(st);
    if (ip != RECEIVER_IP || sport != NET_STREAM_PORT || dport != NET_STREAM_PORT || len < HDR ||
        len > NET_UDP_MAX) {
        fprintf(stderr, "unexpected datagram to %08x:%u from %u, %zu bytes\n", ip, dport, sport, len);
        exit(2);
    }
    /* The datagram is on its way once the call returns: the other sender runs meanwhile (and a
     * sender that shared its buffer with it would see it overwritten here). */
    take_turns();
    uint32_t word = net_get32(data);
    if (l->serving) { /* the receiver answers */
        struct link *to = l->peer;
        if (word == NET_STREAM_ACK && lose_ack(to))
            return 0;
        to->finacks += word == NET_STREAM_FINACK;
        bool slow = word == NET_STREAM_FINACK && to->script == SLOW_FINACKS;
        reply(to, data, (uint16_t)len, slow ? to->s.rto_ns * 3 / 2 : 0);
        return 0;
    }
    if (word < NET_STREAM_ACK && lose_data(l, word))
        return 0;
    if (!l->peer) {
        receive(l, data, len);
        return 0;
    }
    if (word < NET_STREAM_ACK)
        check_payload(l, word, (const uint8_t *)data + HDR, len - HDR);
    reply(l->peer, data, (uint16_t)len, 0);
    return 0;
}

/* Delivers what is due, in order (what follows a slow message waits for it). */
int net_poll(struct net_stack *st, unsigned budget)
{
    struct link *l = link_of(st);
    int done = 0;
    take_turns();
    while (l->inbox_head != l->inbox_tail && (unsigned)done < budget &&
           l->inbox[l->inbox_head % INBOX].due <= clock_ns) {
        unsigned i = l->inbox_head++ % INBOX;
        const uint8_t *msg = l->inbox[i].data;
        if (!l->serving && net_get32(msg) == NET_STREAM_FINACK && net_get32(msg + 4) != l->s.id)
            l->stale++;
        struct net_udp d = {.src_ip = RECEIVER_IP, .sport = NET_STREAM_PORT, .dport = NET_STREAM_PORT,
                            .data = l->inbox[i].data, .len = l->inbox[i].len};
        st->udp(st, &d, st->udp_ctx);
        done++;
    }
    return done;
}

int net_step(struct net_stack *st, bool want_tx_room, uint64_t deadline_ns)
{
    (void)want_tx_room;
    struct link *l = link_of(st);
    if (net_poll(st, NETIF_RING_SIZE))
        return 0;
    /* Nothing came: the other end may be about to answer (a real receiver takes a few turns). */
    for (int k = 0; k < 3 && running; k++) {
        take_turns();
        if (net_poll(st, NETIF_RING_SIZE))
            return 0;
    }
    if (l->serving && !l->peer->done)
        return 0; /* the sender keeps the clock */
    /* Nothing came: sleep until the deadline, or until the next message is due. */
    uint64_t wake = deadline_ns;
    if (l->inbox_head != l->inbox_tail && l->inbox[l->inbox_head % INBOX].due < wake)
        wake = l->inbox[l->inbox_head % INBOX].due;
    if (clock_ns < wake)
        clock_ns = wake;
    return 0;
}

/* ---- the runs ---- */

static void link_init(struct link *l, enum script script, unsigned size, uint64_t seed, unsigned loss_percent)
{
    memset(l, 0, sizeof(*l));
    l->script = script;
    l->size = size;
    l->rng = seed * 0x9e3779b97f4a7c15ull;
    l->loss_percent = loss_percent;
    positions_init(l);
    rx_restart(l);
    net_stream_init(&l->s, &l->st, NET_STREAM_VERIFY);
}

/* One stream of `bytes` on the link; with `timeouts` >= 0, the sender must have gone back exactly
 * that often. */
static bool stream(struct link *l, const char *name, uint64_t bytes, int timeouts)
{
    struct net_stream_result r;
    int rc = net_stream_send(&l->s, RECEIVER_IP, bytes, l->size, clock_ns + 3600 * NS_PER_SEC, &r);
    if (rc || l->rx.bad || !r.match || r.bytes != bytes || l->rx.bytes != bytes || r.checksum != l->rx.fnv ||
        (timeouts >= 0 && r.resent != (uint64_t)timeouts)) {
        printf("%s: rc %d, %s; sender: %lu bytes, checksum %016lx, %s, went back %lu times; receiver: %lu bytes, "
               "checksum %016lx\n",
               name, rc, l->rx.bad ? l->rx.why : "every datagram as it should be", (unsigned long)r.bytes,
               (unsigned long)r.checksum, r.match ? "match" : "MISMATCH", (unsigned long)r.resent,
               (unsigned long)l->rx.bytes, (unsigned long)l->rx.fnv);
        return false;
    }
    return true;
}

static char run_name[2][64];
static uint64_t run_bytes[2];
static void (*body[2])(struct link *l); /* what each coroutine runs */

static void run_link(int i)
{
    body[i](&links[i]);
    links[i].done = true;
}

static void one_stream(struct link *l) { l->ok = stream(l, run_name[l == &links[1]], run_bytes[l == &links[1]], -1); }

/* Two links at once, taking turns at every call into the stack, until both streams are done. */
static bool concurrently(void)
{
    static char stacks[2][1 << 18];
    for (int i = 0; i < 2; i++) {
        getcontext(&links[i].ctx);
        links[i].ctx.uc_stack.ss_sp = stacks[i];
        links[i].ctx.uc_stack.ss_size = sizeof(stacks[i]);
        links[i].ctx.uc_link = &main_ctx;
        makecontext(&links[i].ctx, (void (*)(void))run_link, 1, i);
    }
    while (!links[0].done || !links[1].done) {
        running = &links[links[0].done];
        swapcontext(&main_ctx, &running->ctx);
    }
    running = NULL;
    return links[0].ok && links[1].ok;
}

static bool go_back(void)
{
    bool ok = true;
    struct link *l = &links[0];
    /* The stall: a window taken whole but acknowledged only once the sender went back. One
     * timeout: the acknowledgement that comes while it sends the window again moves it on at once
     * (to the first datagram it never sent), without waiting for a second. */
    bool went_back = false;
    for (unsigned windows = 2; windows <= 6; windows++) {
        link_init(l, ACKS_LOST_UNTIL_GO_BACK, 64, 0, 0);
        ok &= stream(l, "acks lost until the sender goes back", (uint64_t)windows * NET_STREAM_WINDOW * data_len(l), 1);
        went_back |= l->saw_go_back;
    }
    if (!went_back) {
        printf("the script never made the sender go back\n");
        ok = false;
    }
    /* Everything else the network may do: data and acknowledgements lost at random. */
    for (unsigned seed = 1; seed <= 200; seed++) {
        char name[64];
        link_init(l, RANDOM_LOSS, 64, seed, 5 + seed % 40);
        snprintf(name, sizeof(name), "seed %u, %u%% lost", seed, l->loss_percent);
        ok &= stream(l, name, 300 * data_len(l) + seed, -1);
    }
    return ok;
}

static bool finack(void)
{
    bool ok = true;
    struct link *l = &links[0];
    /* Two streams on one struct net_stream (net_bench's warm-up, then its measured stream), the
     * first one's FINACKs slow: the sender sends its FIN again, and the receiver's answer to that
     * comes while the sender sends the second stream. It must not end the second stream. */
    link_init(l, SLOW_FINACKS, 64, 0, 0);
    ok &= stream(l, "slow FINACKs, first stream", 4 * NET_STREAM_WINDOW * data_len(l), -1);
    ok &= stream(l, "the stream after a slow FINACK", 6 * NET_STREAM_WINDOW * data_len(l) + 7, -1);
    if (l->finacks != 4 || l->stale != 1) { /* each FIN sent twice; the first stream's second answer late */
        printf("slow FINACKs: the receiver answered %u FINs (not 4), %u during the next stream (not 1)\n", l->finacks,
               l->stale);
        ok = false;
    }
    return ok;
}

static bool together(void)
{
    bool ok = true;
    /* Two senders at once (two vCPUs of one domain), each with its own stack, losses and datagram
     * size: each stream must carry its own bytes. */
    for (unsigned seed = 1; seed <= 50; seed++) {
        link_init(&links[0], RANDOM_LOSS, 64, seed, 5 + seed % 30);
        link_init(&links[1], RANDOM_LOSS, 100, seed + 1000, 5 + seed % 20);
        for (int i = 0; i < 2; i++) {
            snprintf(run_name[i], sizeof(run_name[i]), "two at once, seed %u, stream %d", seed, i);
            run_bytes[i] = (i ? 200 : 300) * data_len(&links[i]) + seed;
        }
        body[0] = body[1] = one_stream;
        ok &= concurrently();
    }
    return ok;
}

/* ---- against the receiver of net_stream.c ---- */

/* One stream in datagrams of `size`, to the real receiver: both must agree, and every datagram
 * must carry its own bytes. */
static bool real_stream(struct link *l, const char *name, unsigned size, uint64_t bytes)
{
    l->size = size;
    positions_init(l);
    l->streams++;
    struct net_stream_result r;
    int rc = net_stream_send(&l->s, RECEIVER_IP, bytes, size, clock_ns + 3600 * NS_PER_SEC, &r);
    const struct net_stream_peer *p = &l->peer->s.peers[0];
    if (rc || l->rx.bad || !r.match || r.bytes != bytes || !p->fin || p->bad || p->bytes != bytes) {
        printf("%s, stream %u: rc %d, %s; sender: %lu bytes, %s, went back %lu times; receiver: %lu bytes%s%s\n", name,
               l->streams, rc, l->rx.bad ? l->rx.why : "every datagram as it should be", (unsigned long)r.bytes,
               r.match ? "match" : "MISMATCH", (unsigned long)r.resent, (unsigned long)p->bytes,
               p->fin ? ", FIN taken" : "", p->bad ? ", bad bytes" : "");
        return false;
    }
    return true;
}

static unsigned real_seed;

static void real_random(struct link *l)
{
    char name[64];
    snprintf(name, sizeof(name), "real receiver, seed %u, %u%% lost", real_seed, l->loss_percent);
    l->ok = real_stream(l, name, 64, 300 * 60 + real_seed) && real_stream(l, name, 100, 100 * 96 + real_seed) &&
            real_stream(l, name, 64, 50 * 60);
}

static void real_second_zero_lost(struct link *l)
{
    l->ok = real_stream(l, "real receiver, the second stream's datagram 0 lost", 64, 3 * NET_STREAM_WINDOW * 60) &&
            real_stream(l, "real receiver, the second stream's datagram 0 lost", 100, 10 * 96 - 5);
}

static void real_slow_finacks(struct link *l)
{
    l->ok = real_stream(l, "real receiver, slow FINACKs", 64, 4 * NET_STREAM_WINDOW * 60) &&
            real_stream(l, "real receiver, slow FINACKs", 64, 6 * NET_STREAM_WINDOW * 60 + 7);
}

static unsigned real_streams;

static void serve(struct link *l)
{
    l->ok = net_stream_serve(&l->s, real_streams, 0, clock_ns + 3600 * NS_PER_SEC) == 0;
}

/* The sender on links[0] running `program`, the receiver on links[1] serving `streams` streams. */
static bool against_real(void (*program)(struct link *l), enum script script, uint64_t seed, unsigned loss_percent,
                         unsigned streams)
{
    link_init(&links[0], script, 64, seed, loss_percent);
    link_init(&links[1], script, 64, seed + 1000, loss_percent);
    links[0].peer = &links[1];
    links[1].peer = &links[0];
    links[1].serving = true;
    real_streams = streams;
    body[0] = program;
    body[1] = serve;
    bool ok = concurrently();
    if (links[1].s.streams_done != streams) {
        printf("the receiver ended %u streams, not %u\n", links[1].s.streams_done, streams);
        ok = false;
    }
    return ok;
}

static bool receiver(void)
{
    bool ok = true;
    /* The second stream (shorter than a window) loses its datagram 0: the receiver, which still
     * has the first stream, ignores the rest and the FIN, which comes before any timeout, and
     * answers the FIN with the first stream's id and figures; the sender must not take them for
     * its own, and goes back to datagram 0. */
    ok &= against_real(real_second_zero_lost, SECOND_ZERO_LOST, 0, 0, 2);
    if (!links[0].zero_lost) {
        printf("the script never lost the second stream's datagram 0\n");
        ok = false;
    }
    ok &= against_real(real_slow_finacks, SLOW_FINACKS, 0, 0, 2);
    /* The receiver is done once it took the second FIN: that FIN, sent again, goes unanswered. */
    if (links[0].finacks != 3 || links[0].stale != 1) {
        printf("real receiver, slow FINACKs: %u FINs answered (not 3), %u during the next stream (not 1)\n",
               links[0].finacks, links[0].stale);
        ok = false;
    }
    for (real_seed = 1; real_seed <= 30; real_seed++)
        ok &= against_real(real_random, RANDOM_LOSS, real_seed, 5 + real_seed % 30, 3);
    return ok;
}

int main(int argc, char **argv)
{
    const char *what = argc == 2 ? argv[1] : "";
    bool ok;
    if (strcmp(what, "go-back") == 0)
        ok = go_back();
    else if (strcmp(what, "finack") == 0)
        ok = finack();
    else if (strcmp(what, "together") == 0)
        ok = together();
    else if (strcmp(what, "receiver") == 0)
        ok = receiver();
    else
        ok = printf("usage: net_stream_check go-back|finack|together|receiver\n") < 0;
    if (ok)
        printf("ok\n");
    return ok ? 0 : 1;
}
