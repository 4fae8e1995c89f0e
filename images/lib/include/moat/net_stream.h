/* SPDX-License-Identifier: MIT */
/*
 * A UDP stream with a checksum, over the small stack (moat/net.h; docs/networking.md). The sender
 * sends numbered datagrams to NET_STREAM_PORT, at most NET_STREAM_WINDOW ahead of the receiver's
 * cumulative acknowledgement (so the receiver's ring alone never overflows), then a FIN with the
 * byte count and its checksum; the receiver takes datagrams in order only (and, with
 * NET_STREAM_VERIFY, checks every byte against the same xorshift stream), and answers the FIN with
 * its own count and checksum. Both sides print and compare them. Frames can still be lost (a
 * switch drops what a full ring cannot take, e.g. while someone floods the VLAN): a receiver that
 * sees a gap acknowledges at once, and a sender that hears nothing new for its rto_ns goes
 * back to the first unacknowledged datagram (go-back-N), so the stream arrives whole regardless.
 *
 * Each stream has an id (the struct's last one plus one), carried by its FIN; the receiver answers
 * every FIN with the id of the FIN it took, and the sender counts a FINACK only if it carries the
 * id of the stream it sends now. A FIN sent again because the first answer was slow has two
 * answers, and the second can come while the sender sends its next stream on the same struct.
 * Data and acknowledgements carry no id: a link is a pair of rings, which neither repeat nor
 * reorder frames, so nothing of a stream comes after the FINACK that ended it but further
 * FINACKs (docs/networking.md).
 *
 * Wire format (big-endian), all to/from port NET_STREAM_PORT:
 *   data   u32 seq (< 0xfffffff0), then payload
 *   ack    u32 NET_STREAM_ACK, u32 next expected seq
 *   fin    u32 NET_STREAM_FIN, u32 id, u32 seq count, u64 bytes, u64 checksum
 *   finack u32 NET_STREAM_FINACK, u32 id, u32 1 if all was as expected else 0, u64 bytes, u64 checksum
 *   bye    (to NET_BYE_PORT) "bye": the sender is done with us
 */
#ifndef MOAT_GUEST_NET_STREAM_H
#define MOAT_GUEST_NET_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <moat/net.h>
#include <moat/time.h>

#define NET_STREAM_PORT 7000
#define NET_BYE_PORT 9
#define NET_STREAM_WINDOW 16 /* datagrams in flight; below NETIF_RING_SIZE */
#define NET_STREAM_ACK_EVERY 8
#define NET_STREAM_ACK 0xfffffff1u
#define NET_STREAM_FIN 0xfffffff2u
#define NET_STREAM_FINACK 0xfffffff3u
#define NET_STREAM_PEERS 4
#define NET_STREAM_RTO_NS (200 * NS_PER_MS) /* no acknowledgement for this long: send again */

#define NET_STREAM_VERIFY 1u /* payload is the xorshift stream, checked byte by byte, FNV-1a summed */

struct net_stream_result {
    uint64_t bytes, datagrams, ns;
    uint64_t resent; /* times the sender went back (a datagram or an acknowledgement was lost) */
    uint64_t checksum, peer_checksum; /* FNV-1a of the payload (0 without NET_STREAM_VERIFY) */
    bool match;                      /* the receiver saw every datagram, in order, as sent */
};

/* A generator of the stream's bytes (xorshift64, eight bytes at a time). */
struct net_stream_gen {
    uint64_t x, word;
    unsigned left;
};

struct net_stream_peer {
    uint32_t ip;
    uint16_t port;
    bool used, fin, finack_due, ack_due, bad;
    uint32_t next_seq;
    uint64_t bytes, fnv;
    uint32_t fin_id; /* the id of the FIN we took */
    uint64_t fin_bytes, fin_sum;
    struct net_stream_gen gen;
};

struct net_stream {
    struct net_stack *st;
    unsigned flags;
    /* receiving */
    struct net_stream_peer peers[NET_STREAM_PEERS];
    unsigned streams_done, byes;
    uint64_t rx_bytes;
    /* sending: one stream at a time on a struct; two structs (on two stacks) send at once */
    uint64_t rto_ns; /* no acknowledgement for this long: go back (net_stream_init: NET_STREAM_RTO_NS) */
    uint32_t id;     /* the stream's (the one sent now, or the last one) */
    uint32_t acked;
    bool finack, finack_ok;
    uint64_t finack_bytes, finack_sum;
    struct net_stream_gen at[NET_STREAM_WINDOW]; /* the generator at each datagram of the window */
    uint8_t dgram[NET_UDP_MAX];                  /* the datagram being sent */
};

/* Installs the stream's UDP handler on st (it replaces any other). */
void net_stream_init(struct net_stream *s, struct net_stack *st, unsigned flags);
/*
 * Streams `bytes` in datagrams of `size` payload bytes (5 to NET_UDP_MAX: a 4-byte sequence number
 * and at least one byte of the stream) to ip, then FIN, and waits for the FINACK (with the FIN's
 * stream id). 0 with *r filled (r->match says whether the receiver agreed), or NETIF_E*.
 */
int net_stream_send(struct net_stream *s, uint32_t ip, uint64_t bytes, unsigned size, uint64_t deadline_ns,
                    struct net_stream_result *r);
/* Tells ip we are done with it ("bye"). */
int net_stream_bye(struct net_stream *s, uint32_t ip, uint64_t deadline_ns);
/*
 * Answers everything (ARP, echo, streams) until `streams` streams have finished and `byes` byes
 * have come, or deadline_ns. 0, NETIF_ETIMEDOUT or another NETIF_E*. The finished streams'
 * results: net_stream_peer entries with fin set.
 */
int net_stream_serve(struct net_stream *s, unsigned streams, unsigned byes, uint64_t deadline_ns);

void net_stream_gen_init(struct net_stream_gen *g);
uint8_t net_stream_gen_byte(struct net_stream_gen *g);
uint64_t net_fnv1a(uint64_t h, const uint8_t *p, size_t n);
#define NET_FNV_INIT 0xcbf29ce484222325ull

#endif
