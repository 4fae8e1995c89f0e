/* SPDX-License-Identifier: MIT */
/*
 * A minimal IPv4 stack over one netif (docs/networking.md): Ethernet (optionally 802.1Q-tagged
 * with one VLAN), ARP, IPv4 without options or fragments, ICMP echo and UDP, with their checksums.
 * Every address is on-link (no routing); ARP answers requests for our address and keeps a small
 * cache of replies. net_poll() answers ARP and echo requests by itself and hands UDP datagrams to
 * a handler. Nothing here trusts a frame: lengths are checked against the frame before any field
 * behind them is read, and frames with a bad checksum are dropped and counted.
 */
#ifndef MOAT_GUEST_NET_H
#define MOAT_GUEST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <moat/netif.h>

#define NET_ETH_ALEN 6
#define NET_ETH_HLEN 14
#define NET_VLAN_HLEN 4
#define NET_ETHERTYPE_IPV4 0x0800
#define NET_ETHERTYPE_ARP 0x0806
#define NET_ETHERTYPE_VLAN 0x8100
#define NET_IPPROTO_ICMP 1
#define NET_IPPROTO_UDP 17
#define NET_IP_HLEN 20
#define NET_UDP_HLEN 8
#define NET_ICMP_HLEN 8
#define NET_MTU 1500                                          /* bytes of IP packet */
#define NET_UDP_MAX (NET_MTU - NET_IP_HLEN - NET_UDP_HLEN)    /* 1472 bytes of UDP payload */
#define NET_ARP_ENTRIES 16
#define NET_VLAN_MAX 4094

#define NET_IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

extern const uint8_t net_broadcast[NET_ETH_ALEN];

/* A UDP datagram as the handler sees it: data points into the stack's receive buffer. */
struct net_udp {
    uint32_t src_ip, dst_ip;
    uint16_t sport, dport;
    const uint8_t *src_mac;
    const uint8_t *data;
    uint16_t len;
};

struct net_stack;
/* Called from net_poll for each datagram for us. It must not send (net_send would re-enter
 * net_poll): it records what to answer, and the caller's loop sends after net_poll returns. */
typedef void (*net_udp_handler)(struct net_stack *st, const struct net_udp *dgram, void *ctx);

struct net_stats {
    uint64_t rx_frames;       /* frames taken from the interface */
    uint64_t rx_ignored;      /* not for us: another VLAN, another address, an unknown type */
    uint64_t rx_bad;          /* malformed, truncated, or a bad checksum */
    uint64_t arp_answered, echo_answered, echo_replies, udp_rx;
    uint64_t tx_frames, tx_dropped; /* tx_dropped: a reply that did not fit a full ring */
};

struct net_resolving;

struct net_stack {
    struct netif *nif;
    uint8_t mac[NET_ETH_ALEN];
    uint32_t ip;
    uint16_t vlan; /* 0: untagged frames; else frames tagged with this VLAN id, and only those */
    struct {
        uint32_t ip;
        uint8_t mac[NET_ETH_ALEN];
        bool valid;
    } arp[NET_ARP_ENTRIES];
    unsigned arp_next;
    uint16_t ip_id;
    uint16_t echo_id, echo_seq; /* the last echo reply seen */
    bool echo_seen;
    net_udp_handler udp;
    void *udp_ctx;
    struct net_resolving *resolving; /* net_resolve_any's targets while it waits, else NULL */
    struct net_stats stats;
    uint8_t rx[NETIF_FRAME_MAX];
    uint8_t tx[NETIF_FRAME_MAX];    /* what net_send sends (built in place by net_ping, net_udp_send) */
    uint8_t reply[NETIF_FRAME_MAX]; /* what net_poll answers with (ARP, echo) */
};

/* A stack with our address ip on nif (the MAC is the link's), untagged (vlan 0) or on one VLAN. */
void net_init(struct net_stack *st, struct netif *nif, uint32_t ip, uint16_t vlan);
/* Moves the stack to another VLAN (0: untagged); forgets the ARP cache. */
void net_set_vlan(struct net_stack *st, uint16_t vlan);
void net_set_udp_handler(struct net_stack *st, net_udp_handler fn, void *ctx);

/* Handles every frame waiting (at most `budget`); returns how many, or a NETIF_E* error. */
int net_poll(struct net_stack *st, unsigned budget);
/* Sleeps until a frame may have arrived, the tx ring may have room (want_tx_room) or deadline_ns. */
void net_wait(struct net_stack *st, bool want_tx_room, uint64_t deadline_ns);
/* One turn of a wait loop: handles the frames waiting, or sleeps (net_wait) if there were none.
 * 0, or net_poll's error. */
int net_step(struct net_stack *st, bool want_tx_room, uint64_t deadline_ns);

/*
 * Sends an Ethernet frame from us (tagged when the stack is on a VLAN), waiting for ring space
 * (and handling incoming frames meanwhile) until deadline_ns. 0 or a NETIF_E* error.
 */
int net_send(struct net_stack *st, const uint8_t *dst, uint16_t ethertype, const void *payload, size_t len,
             uint64_t deadline_ns);
/* The MAC address of ip (ARP, cached): 0 or NETIF_ETIMEDOUT. */
int net_resolve(struct net_stack *st, uint32_t ip, uint8_t *mac, uint64_t deadline_ns);
/*
 * Asks for n addresses at once, each with a broadcast ARP request on its own VLAN (vlans[i]; 0:
 * untagged) every 100 ms, until one of them answers or deadline_ns: 0 and in *which the index of
 * the first that did, or NETIF_ETIMEDOUT. An answer is any ARP frame from that address to us, on
 * whatever VLAN it comes (the stack stays on its own for everything else); the ARP cache is not
 * asked, nor filled from another VLAN. For addresses that must not answer (tests/net).
 */
int net_resolve_any(struct net_stack *st, const uint32_t *ips, const uint16_t *vlans, unsigned n, unsigned *which,
                    uint64_t deadline_ns);
/* One echo request with `size` bytes of data; 0 when its reply came back, else NETIF_ETIMEDOUT. */
int net_ping(struct net_stack *st, uint32_t ip, uint16_t seq, unsigned size, uint64_t deadline_ns);
/* One UDP datagram (len <= NET_UDP_MAX) to ip:dport from our sport. */
int net_udp_send(struct net_stack *st, uint32_t ip, uint16_t sport, uint16_t dport, const void *data, size_t len,
                 uint64_t deadline_ns);

/* The Internet checksum (RFC 1071) of data, starting from a partial sum. */
uint16_t net_checksum(const void *data, size_t len, uint32_t sum);
/* "10.0.0.1" -> host order; false if malformed. */
bool net_parse_ip(const char *text, uint32_t *ip);
char *net_format_ip(char *buf, uint32_t ip); /* buf: 16 bytes */

/* Big-endian fields. */
static inline uint16_t net_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t net_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void net_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void net_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * An Ethernet frame's header, parsed: the addresses, the VLAN id (0 when untagged), the ethertype
 * and where the payload starts. False for a frame too short for its header.
 */
struct net_eth {
    const uint8_t *dst, *src;
    uint16_t vlan, type;
    bool tagged;
    size_t hlen;
};
bool net_parse_eth(const uint8_t *frame, size_t len, struct net_eth *eth);

#endif
