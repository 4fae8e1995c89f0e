// SPDX-License-Identifier: MIT
// Host driver for the sender of images/lib/net_stream.c (tests/net/test_stream_sender.py): its
// go-back-N against a model receiver over a fake network whose losses a script decides, on a
// fake clock, so that every interleaving is exact and the same on every run. The model receiver
// takes datagrams in order, as rx_data does, and checks every byte of every datagram it sees
// (duplicates included) against the stream's generator at that datagram's position: the sender
// must never send a sequence number with any bytes but its own. Prints "ok" and exits 0, or names
// the first script and datagram that went wrong and exits 1.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <moat/net_stream.h>

#define RECEIVER_IP NET_IP(10, 0, 0, 1)
#define SIZE 64                        /* datagram payload: 4 bytes of sequence number, 60 of data */
#define DATA (SIZE - 4)
#define INBOX 4096

/* ---- the fake clock ---- */

static uint64_t clock_ns;

/* Every look at the clock costs a microsecond: time passes while the sender works, as it does. */
uint64_t now_ns(void) { return clock_ns += NS_PER_US; }

/* ---- the script: which messages the network loses ---- */

enum script { ACKS_LOST_UNTIL_GO_BACK, RANDOM_LOSS };
static enum script script;
static uint64_t rng;
static unsigned loss_percent;
static bool receiver_saw_go_back;

static unsigned random_below(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* ACKS_LOST_UNTIL_GO_BACK: the receiver's acknowledgements past the first are lost until the
 * sender has gone back once, so that the sender times out on a window the receiver took whole,
 * goes back, and hears only then (while it sends the window again) that the receiver has it all. */
static bool lose_ack(uint32_t next)
{
    if (script == ACKS_LOST_UNTIL_GO_BACK)
        return next > NET_STREAM_ACK_EVERY && !receiver_saw_go_back;
    return random_below(100) < loss_percent;
}

static bool lose_data(void) { return script == RANDOM_LOSS && random_below(100) < loss_percent; }

/* ---- the model receiver ---- */

static struct {
    uint32_t next_seq;
    uint64_t bytes, fnv;
    struct net_stream_gen gen; /* at next_seq's first byte */
    bool bad;
    char why[160];
} rx;

/* The sender's inbox (acknowledgements and the FINACK), delivered by net_poll. */
static struct {
    uint8_t data[24];
    uint16_t len;
} inbox[INBOX];
static unsigned inbox_head, inbox_tail;

static void reply(const uint8_t *msg, uint16_t len)
{
    if (inbox_tail - inbox_head == INBOX) {
        fprintf(stderr, "inbox full\n");
        exit(2);
    }
    memcpy(inbox[inbox_tail % INBOX].data, msg, len);
    inbox[inbox_tail % INBOX].len = len;
    inbox_tail++;
}

static void ack(void)
{
    if (lose_ack(rx.next_seq))
        return;
    uint8_t msg[8];
    net_put32(msg, NET_STREAM_ACK);
    net_put32(msg + 4, rx.next_seq);
    reply(msg, sizeof(msg));
}

static void fail(const char *fmt, uint32_t seq, uint32_t next)
{
    if (!rx.bad)
        snprintf(rx.why, sizeof(rx.why), fmt, seq, next);
    rx.bad = true;
}

/* The generator at each datagram's first byte (the runs below send fewer than MAX_SEQ). */
#define MAX_SEQ 512
static struct net_stream_gen at_seq[MAX_SEQ];

static void positions_init(void)
{
    net_stream_gen_init(&at_seq[0]);
    for (unsigned k = 1; k < MAX_SEQ; k++) {
        at_seq[k] = at_seq[k - 1];
        for (unsigned i = 0; i < DATA; i++)
            net_stream_gen_byte(&at_seq[k]);
    }
}

/* Datagram seq (any, duplicates too) must carry the stream's bytes at seq * DATA. */
static void check_payload(uint32_t seq, const uint8_t *data, size_t n)
{
    if (seq >= MAX_SEQ) {
        fail("datagram %u: beyond any this run sends (next %u)", seq, rx.next_seq);
        return;
    }
    struct net_stream_gen g = at_seq[seq];
    for (size_t i = 0; i < n; i++)
        if (data[i] != net_stream_gen_byte(&g)) {
            fail("datagram %u is not the stream's bytes at its position (the receiver expected %u)", seq,
                 rx.next_seq);
            return;
        }
}

static void receive(const uint8_t *d, size_t len)
{
    uint32_t word = net_get32(d);
    if (word == NET_STREAM_FIN) {
        if (net_get32(d + 4) != rx.next_seq) {
            ack();
            return;
        }
        uint64_t bytes = (uint64_t)net_get32(d + 8) << 32 | net_get32(d + 12);
        uint64_t sum = (uint64_t)net_get32(d + 16) << 32 | net_get32(d + 20);
        uint8_t msg[24];
        net_put32(msg, NET_STREAM_FINACK);
        net_put32(msg + 4, !rx.bad && bytes == rx.bytes && sum == rx.fnv);
        net_put32(msg + 8, (uint32_t)(rx.bytes >> 32));
        net_put32(msg + 12, (uint32_t)rx.bytes);
        net_put32(msg + 16, (uint32_t)(rx.fnv >> 32));
        net_put32(msg + 20, (uint32_t)rx.fnv);
        reply(msg, sizeof(msg));
        return;
    }
    check_payload(word, d + 4, len - 4);
    if (word != rx.next_seq) {
        if (word < rx.next_seq)
            receiver_saw_go_back = true;
        ack(); /* a gap or a duplicate: the sender hears at once where we are */
        return;
    }
    rx.next_seq++;
    rx.bytes += len - 4;
    for (size_t i = 4; i < len; i++)
        if (d[i] != net_stream_gen_byte(&rx.gen))
            fail("datagram %u accepted with bytes that are not the stream's (next %u)", word, rx.next_seq);
    rx.fnv = net_fnv1a(rx.fnv, d + 4, len - 4);
    if (rx.next_seq % NET_STREAM_ACK_EVERY == 0)
        ack();
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
    (void)st, (void)deadline_ns;
    if (ip != RECEIVER_IP || sport != NET_STREAM_PORT || dport != NET_STREAM_PORT || len < 4 || len > NET_UDP_MAX) {
        fprintf(stderr, "unexpected datagram to %08x:%u from %u, %zu bytes\n", ip, dport, sport, len);
        exit(2);
    }
    if (net_get32(data) < NET_STREAM_ACK && lose_data())
        return 0;
    receive(data, len);
    return 0;
}

int net_poll(struct net_stack *st, unsigned budget)
{
    int done = 0;
    while (inbox_head != inbox_tail && (unsigned)done < budget) {
        unsigned i = inbox_head++ % INBOX;
        struct net_udp d = {.src_ip = RECEIVER_IP, .sport = NET_STREAM_PORT, .dport = NET_STREAM_PORT,
                            .data = inbox[i].data, .len = inbox[i].len};
        st->udp(st, &d, st->udp_ctx);
        done++;
    }
    return done;
}

int net_step(struct net_stack *st, bool want_tx_room, uint64_t deadline_ns)
{
    (void)want_tx_room;
    if (!net_poll(st, NETIF_RING_SIZE) && clock_ns < deadline_ns)
        clock_ns = deadline_ns; /* nothing came: sleep until the deadline */
    return 0;
}

/* ---- the runs ---- */

/* One stream of `bytes`; with `timeouts` >= 0, the sender must have gone back exactly that often. */
static bool run(const char *name, uint64_t bytes, int timeouts)
{
    memset(&rx, 0, sizeof(rx));
    rx.fnv = NET_FNV_INIT;
    net_stream_gen_init(&rx.gen);
    inbox_head = inbox_tail = 0;
    receiver_saw_go_back = false;
    static struct net_stack st;
    struct net_stream s;
    net_stream_init(&s, &st, NET_STREAM_VERIFY);
    struct net_stream_result r;
    int rc = net_stream_send(&s, RECEIVER_IP, bytes, SIZE, clock_ns + 3600 * NS_PER_SEC, &r);
    if (rc || rx.bad || !r.match || r.bytes != bytes || rx.bytes != bytes || r.checksum != rx.fnv ||
        (timeouts >= 0 && r.resent != (uint64_t)timeouts)) {
        printf("%s: rc %d, %s; sender: %lu bytes, checksum %016lx, %s, went back %lu times; receiver: %lu bytes, "
               "checksum %016lx\n",
               name, rc, rx.bad ? rx.why : "every datagram as it should be", (unsigned long)r.bytes,
               (unsigned long)r.checksum, r.match ? "match" : "MISMATCH", (unsigned long)r.resent,
               (unsigned long)rx.bytes, (unsigned long)rx.fnv);
        return false;
    }
    return true;
}

int main(void)
{
    bool ok = true;
    positions_init();
    /* The stall: a window taken whole but acknowledged only once the sender went back. One
     * timeout: the acknowledgement that comes while it sends the window again moves it on at once
     * (to the first datagram it never sent), without waiting for a second. */
    script = ACKS_LOST_UNTIL_GO_BACK;
    for (unsigned windows = 2; windows <= 6; windows++)
        ok &= run("acks lost until the sender goes back", (uint64_t)windows * NET_STREAM_WINDOW * DATA, 1);
    if (!receiver_saw_go_back) {
        printf("the script never made the sender go back\n");
        ok = false;
    }
    /* Everything else the network may do: data and acknowledgements lost at random. */
    script = RANDOM_LOSS;
    for (unsigned seed = 1; seed <= 200; seed++) {
        rng = seed * 0x9e3779b97f4a7c15ull;
        loss_percent = 5 + seed % 40;
        char name[64];
        snprintf(name, sizeof(name), "seed %u, %u%% lost", seed, loss_percent);
        ok &= run(name, 300 * DATA + seed, -1);
    }
    if (ok)
        printf("ok\n");
    return ok ? 0 : 1;
}
