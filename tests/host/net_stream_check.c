// SPDX-License-Identifier: MIT
// Host driver for the sender of images/lib/net_stream.c (tests/net/test_stream_sender.py): its
// go-back-N against a model receiver over a fake network whose losses and delays a script
// decides, on a fake clock, so that every interleaving is exact and the same on every run. The
// model receiver takes datagrams in order, as rx_data does, and checks every byte of every
// datagram it sees (duplicates included) against the stream's generator at that datagram's
// position: the sender must never send a sequence number with any bytes but its own. Each sender
// has its own link (stack, network, model receiver); two links can run at once, as coroutines that
// take turns at every call into the stack, so that two streams interleave datagram by datagram.
// The argument picks the runs: go-back (losses), finack (a slow FINACK and the next stream) or
// together (two senders at once). Prints "ok" and exits 0, or names each run and datagram that went
// wrong and exits 1.
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
    struct {           /* the model receiver */
        uint32_t fin_id, next_seq;
        uint64_t bytes, fnv;
        struct net_stream_gen gen; /* at next_seq's first byte */
        bool fin, bad;
        char why[160];
    } rx;
    struct { /* the sender's inbox (acknowledgements, FINACKs), in order, each due at a time */
        uint8_t data[28];
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

static bool lose_data(struct link *l) { return l->script == RANDOM_LOSS && random_below(l, 100) < l->loss_percent; }

static void reply(struct link *l, const uint8_t *msg, uint16_t len, uint64_t latency_ns)
{
    if (l->inbox_tail - l->inbox_head == INBOX) {
        fprintf(stderr, "inbox full\n");
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
    if (net_get32(data) < NET_STREAM_ACK && lose_data(l))
        return 0;
    receive(l, data, len);
    return 0;
}

/* Delivers what is due, in order (what follows a slow message waits for it). */
int net_poll(struct net_stack *st, unsigned budget)
{
    struct link *l = link_of(st);
    int done = 0;
    take_turns();
    while (l->inbox_head != l->inbox_tail && (unsigned)done < budget && l->inbox[l->inbox_head % INBOX].due <= clock_ns) {
        unsigned i = l->inbox_head++ % INBOX;
        if (net_get32(l->inbox[i].data) == NET_STREAM_FINACK && net_get32(l->inbox[i].data + 4) != l->s.id)
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

static void run_link(int i)
{
    struct link *l = &links[i];
    l->ok = stream(l, run_name[i], run_bytes[i], -1);
    l->done = true;
}

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
        ok &= concurrently();
    }
    return ok;
}

int main(int argc, char **argv)
{
    const char *what = argc == 2 ? argv[1] : "";
    bool ok = strcmp(what, "go-back") == 0    ? go_back()
              : strcmp(what, "finack") == 0   ? finack()
              : strcmp(what, "together") == 0 ? together()
                                              : (printf("usage: net_stream_check go-back|finack|together\n"), false);
    if (ok)
        printf("ok\n");
    return ok ? 0 : 1;
}
