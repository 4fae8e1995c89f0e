// SPDX-License-Identifier: MIT
// A minimal IPv4 stack over one netif: Ethernet (+802.1Q), ARP, IPv4, ICMP echo, UDP (moat/net.h).
// Received frames are in the stack's own buffer (netif_recv copied them out of the ring), and every
// length is checked against the frame before the field behind it is read.
#include <moat/guest.h>
#include <moat/net.h>

const uint8_t net_broadcast[NET_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define ARP_LEN 28
#define ARP_REQUEST 1
#define ARP_REPLY 2
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ECHO_ID 0x6d6f /* "mo": our echo identifier */
#define IP_DF 0x4000
#define IP_TTL 64

/* ---- helpers ---- */

uint16_t net_checksum(const void *data, size_t len, uint32_t sum)
{
    /* RFC 1071: the one's complement sum does not depend on byte order, so add eight bytes at a
     * time in the CPU's order (with end-around carry) and swap the folded result once. */
    const uint8_t *p = data;
    uint64_t acc = 0;
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        acc += w;
        acc += acc < w;
    }
    for (; len >= 2; len -= 2, p += 2)
        acc += (uint64_t)(p[0] | p[1] << 8);
    if (len)
        acc += p[0];
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    uint64_t s = ((acc >> 8) | (acc << 8)) & 0xffff; /* big-endian, as the partial sum is */
    s += sum;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* The one's complement sum of the UDP pseudo-header (RFC 768), to start the UDP checksum from. */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint16_t len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + NET_IPPROTO_UDP + len;
}

bool net_parse_ip(const char *text, uint32_t *ip)
{
    uint32_t value = 0;
    for (unsigned part = 0; part < 4; part++) {
        unsigned n = 0, digits = 0;
        while (*text >= '0' && *text <= '9' && digits < 3) {
            n = n * 10 + (unsigned)(*text++ - '0');
            digits++;
        }
        if (!digits || n > 255 || (part < 3 && *text++ != '.'))
            return false;
        value = value << 8 | n;
    }
    if (*text && *text != ' ')
        return false;
    *ip = value;
    return true;
}

char *net_format_ip(char *buf, uint32_t ip)
{
    snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
    return buf;
}

bool net_parse_eth(const uint8_t *frame, size_t len, struct net_eth *eth)
{
    if (len < NET_ETH_HLEN)
        return false;
    eth->dst = frame;
    eth->src = frame + 6;
    eth->type = net_get16(frame + 12);
    eth->vlan = 0;
    eth->tagged = false;
    eth->hlen = NET_ETH_HLEN;
    if (eth->type == NET_ETHERTYPE_VLAN) {
        if (len < NET_ETH_HLEN + NET_VLAN_HLEN)
            return false;
        eth->tagged = true;
        eth->vlan = net_get16(frame + 14) & 0xfff;
        eth->type = net_get16(frame + 16);
        eth->hlen += NET_VLAN_HLEN;
    }
    return true;
}

static bool mac_eq(const uint8_t *a, const uint8_t *b) { return memcmp(a, b, NET_ETH_ALEN) == 0; }

/* ---- set-up ---- */

void net_init(struct net_stack *st, struct netif *nif, uint32_t ip, uint16_t vlan)
{
    memset(st, 0, sizeof(*st));
    st->nif = nif;
    memcpy(st->mac, nif->mac, NET_ETH_ALEN);
    st->ip = ip;
    st->vlan = vlan <= NET_VLAN_MAX ? vlan : 0;
    st->ip_id = 1;
}

void net_set_vlan(struct net_stack *st, uint16_t vlan)
{
    st->vlan = vlan <= NET_VLAN_MAX ? vlan : 0;
    memset(st->arp, 0, sizeof(st->arp));
}

void net_set_udp_handler(struct net_stack *st, net_udp_handler fn, void *ctx)
{
    st->udp = fn;
    st->udp_ctx = ctx;
}

/* ---- sending ---- */

/* Builds a frame in f: our header (tagged on a VLAN) and the payload (copied unless it is already
 * in place). Returns its length. */
static size_t build(struct net_stack *st, uint8_t *f, const uint8_t *dst, uint16_t type, const void *payload,
                    size_t len)
{
    memcpy(f, dst, NET_ETH_ALEN);
    memcpy(f + 6, st->mac, NET_ETH_ALEN);
    size_t h = 12;
    if (st->vlan) {
        net_put16(f + h, NET_ETHERTYPE_VLAN);
        net_put16(f + h + 2, st->vlan);
        h += NET_VLAN_HLEN;
    }
    net_put16(f + h, type);
    h += 2;
    if (payload != f + h)
        memmove(f + h, payload, len);
    return h + len;
}

/* Where the payload of a frame goes in buf (st->tx or st->reply), so callers build it in place. */
static uint8_t *payload_in(struct net_stack *st, uint8_t *buf) { return buf + NET_ETH_HLEN + (st->vlan ? NET_VLAN_HLEN : 0); }
static uint8_t *tx_payload(struct net_stack *st) { return payload_in(st, st->tx); }
static uint8_t *reply_payload(struct net_stack *st) { return payload_in(st, st->reply); }

/* A reply from inside net_poll: never waits (a full ring drops it, as a busy host would). It has a
 * buffer of its own, so a net_send waiting for room keeps its frame in st->tx. */
static void send_now(struct net_stack *st, const uint8_t *dst, uint16_t type, size_t len)
{
    size_t n = build(st, st->reply, dst, type, reply_payload(st), len);
    if (netif_send(st->nif, st->reply, n) == 0)
        st->stats.tx_frames++;
    else
        st->stats.tx_dropped++;
}

int net_send(struct net_stack *st, const uint8_t *dst, uint16_t type, const void *payload, size_t len,
             uint64_t deadline_ns)
{
    if (len > NETIF_FRAME_MAX - NET_ETH_HLEN - NET_VLAN_HLEN)
        return NETIF_EINVAL;
    for (;;) {
        size_t n = build(st, st->tx, dst, type, payload, len);
        int rc = netif_send(st->nif, st->tx, n);
        if (rc == 0) {
            st->stats.tx_frames++;
            return 0;
        }
        if (rc != NETIF_EAGAIN)
            return rc;
        if (now_ns() >= deadline_ns)
            return NETIF_ETIMEDOUT;
        /* The ring is full: keep receiving (the peer may be waiting for room on its side too),
         * then wait for room. */
        if ((rc = net_step(st, true, deadline_ns)))
            return rc;
    }
}

static void arp_learn(struct net_stack *st, uint32_t ip, const uint8_t *mac)
{
    for (unsigned i = 0; i < NET_ARP_ENTRIES; i++)
        if (st->arp[i].valid && st->arp[i].ip == ip) {
            memcpy(st->arp[i].mac, mac, NET_ETH_ALEN);
            return;
        }
    unsigned i = st->arp_next++ % NET_ARP_ENTRIES; /* bounded: the oldest entry goes */
    st->arp[i].ip = ip;
    memcpy(st->arp[i].mac, mac, NET_ETH_ALEN);
    st->arp[i].valid = true;
}

static bool arp_lookup(struct net_stack *st, uint32_t ip, uint8_t *mac)
{
    for (unsigned i = 0; i < NET_ARP_ENTRIES; i++)
        if (st->arp[i].valid && st->arp[i].ip == ip) {
            memcpy(mac, st->arp[i].mac, NET_ETH_ALEN);
            return true;
        }
    return false;
}

static void arp_fill(uint8_t *a, uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
    net_put16(a, 1); /* Ethernet */
    net_put16(a + 2, NET_ETHERTYPE_IPV4);
    a[4] = NET_ETH_ALEN;
    a[5] = 4;
    net_put16(a + 6, op);
    memcpy(a + 8, sha, NET_ETH_ALEN);
    net_put32(a + 14, spa);
    memcpy(a + 18, tha, NET_ETH_ALEN);
    net_put32(a + 24, tpa);
}

/* Broadcasts an ARP request for ip. */
static int arp_ask(struct net_stack *st, uint32_t ip, uint64_t deadline_ns)
{
    static const uint8_t zero[NET_ETH_ALEN];
    uint8_t req[ARP_LEN];
    arp_fill(req, ARP_REQUEST, st->mac, st->ip, zero, ip);
    return net_send(st, net_broadcast, NET_ETHERTYPE_ARP, req, sizeof(req), deadline_ns);
}

int net_resolve(struct net_stack *st, uint32_t ip, uint8_t *mac, uint64_t deadline_ns)
{
    uint64_t retry = 0;
    for (;;) {
        if (arp_lookup(st, ip, mac))
            return 0;
        uint64_t now = now_ns();
        if (now >= deadline_ns)
            return NETIF_ETIMEDOUT;
        if (now >= retry) {
            int rc = arp_ask(st, ip, deadline_ns);
            if (rc)
                return rc;
            retry = now + 100 * NS_PER_MS;
        }
        int rc = net_step(st, false, retry < deadline_ns ? retry : deadline_ns);
        if (rc)
            return rc;
    }
}

struct net_resolving {
    const uint32_t *ips;
    const uint16_t *vlans;
    unsigned n;
    int found; /* the index of the first that answered, or -1 */
};

/* An ARP frame for us (a, len: its payload) on vlan, ours or another: one from a target of
 * net_resolve_any is its answer (the target asked on that VLAN, if the address is asked on
 * several). */
static void resolving_arp(struct net_stack *st, const uint8_t *a, size_t len, uint16_t vlan)
{
    struct net_resolving *r = st->resolving;
    if (r->found >= 0 || len < ARP_LEN || net_get32(a + 24) != st->ip)
        return;
    uint32_t from = net_get32(a + 14);
    for (unsigned i = 0; i < r->n; i++)
        if (from == r->ips[i] && (r->found < 0 || r->vlans[i] == vlan))
            r->found = (int)i;
}

int net_resolve_any(struct net_stack *st, const uint32_t *ips, const uint16_t *vlans, unsigned n, unsigned *which,
                    uint64_t deadline_ns)
{
    struct net_resolving r = {.ips = ips, .vlans = vlans, .n = n, .found = -1};
    uint16_t own = st->vlan;
    uint64_t retry = 0;
    int rc = 0;
    /* cppcheck-suppress autoVariables ; cleared before this returns: the receive path reads it only during this call */
    st->resolving = &r;
    while (r.found < 0 && !rc) {
        uint64_t now = now_ns();
        if (now >= deadline_ns) {
            rc = NETIF_ETIMEDOUT;
            break;
        }
        if (now >= retry) {
            /* Each request tagged for its target's VLAN: the stack's own VLAN for as long as it
             * takes to send it (frames that a full ring makes it handle meanwhile are read as on
             * that VLAN too: at worst ignored, as the full ring would have them dropped). */
            for (unsigned i = 0; i < n && !rc; i++) {
                st->vlan = vlans[i] <= NET_VLAN_MAX ? vlans[i] : 0;
                rc = arp_ask(st, ips[i], deadline_ns);
                st->vlan = own;
            }
            retry = now + 100 * NS_PER_MS;
        }
        /* cppcheck-suppress knownConditionTrueFalse ; arp_ask may take in frames, and their ARP sets r.found */
        if (!rc && r.found < 0)
            rc = net_step(st, false, retry < deadline_ns ? retry : deadline_ns);
    }
    st->resolving = NULL;
    if (r.found >= 0) {
        *which = (unsigned)r.found;
        return 0;
    }
    return rc;
}

/* Fills an IPv4 header for a payload of len bytes. */
static void ip_header(struct net_stack *st, uint8_t *ip, uint8_t proto, uint32_t dst, size_t len)
{
    ip[0] = 0x45;
    ip[1] = 0;
    net_put16(ip + 2, (uint16_t)(NET_IP_HLEN + len));
    net_put16(ip + 4, st->ip_id++);
    net_put16(ip + 6, IP_DF);
    ip[8] = IP_TTL;
    ip[9] = proto;
    net_put16(ip + 10, 0);
    net_put32(ip + 12, st->ip);
    net_put32(ip + 16, dst);
    net_put16(ip + 10, net_checksum(ip, NET_IP_HLEN, 0));
}

int net_ping(struct net_stack *st, uint32_t ip, uint16_t seq, unsigned size, uint64_t deadline_ns)
{
    uint8_t mac[NET_ETH_ALEN];
    if (size > NET_MTU - NET_IP_HLEN - NET_ICMP_HLEN)
        return NETIF_EINVAL;
    int rc = net_resolve(st, ip, mac, deadline_ns);
    if (rc)
        return rc;
    uint8_t *pkt = tx_payload(st), *icmp = pkt + NET_IP_HLEN; /* built in place */
    icmp[0] = ICMP_ECHO_REQUEST;
    icmp[1] = 0;
    net_put16(icmp + 2, 0);
    net_put16(icmp + 4, ECHO_ID);
    net_put16(icmp + 6, seq);
    for (unsigned i = 0; i < size; i++)
        icmp[NET_ICMP_HLEN + i] = (uint8_t)(seq + i);
    net_put16(icmp + 2, net_checksum(icmp, NET_ICMP_HLEN + size, 0));
    ip_header(st, pkt, NET_IPPROTO_ICMP, ip, NET_ICMP_HLEN + size);
    st->echo_seen = false;
    if ((rc = net_send(st, mac, NET_ETHERTYPE_IPV4, pkt, NET_IP_HLEN + NET_ICMP_HLEN + size, deadline_ns)))
        return rc;
    for (;;) {
        if (st->echo_seen && st->echo_id == ECHO_ID && st->echo_seq == seq)
            return 0;
        if (now_ns() >= deadline_ns)
            return NETIF_ETIMEDOUT;
        if ((rc = net_step(st, false, deadline_ns)))
            return rc;
    }
}

int net_udp_send(struct net_stack *st, uint32_t ip, uint16_t sport, uint16_t dport, const void *data, size_t len,
                 uint64_t deadline_ns)
{
    uint8_t mac[NET_ETH_ALEN];
    if (len > NET_UDP_MAX)
        return NETIF_EINVAL;
    int rc = net_resolve(st, ip, mac, deadline_ns);
    if (rc)
        return rc;
    uint8_t *pkt = tx_payload(st), *udp = pkt + NET_IP_HLEN; /* built in place */
    uint16_t ulen = (uint16_t)(NET_UDP_HLEN + len);
    net_put16(udp, sport);
    net_put16(udp + 2, dport);
    net_put16(udp + 4, ulen);
    net_put16(udp + 6, 0);
    memcpy(udp + NET_UDP_HLEN, data, len);
    uint16_t sum = net_checksum(udp, ulen, pseudo_sum(st->ip, ip, ulen));
    net_put16(udp + 6, sum ? sum : 0xffff); /* 0 means "no checksum" on the wire */
    ip_header(st, pkt, NET_IPPROTO_UDP, ip, ulen);
    return net_send(st, mac, NET_ETHERTYPE_IPV4, pkt, NET_IP_HLEN + ulen, deadline_ns);
}

/* ---- receiving ---- */

static void rx_arp(struct net_stack *st, const uint8_t *a, size_t len)
{
    if (len < ARP_LEN || net_get16(a) != 1 || net_get16(a + 2) != NET_ETHERTYPE_IPV4 || a[4] != NET_ETH_ALEN ||
        a[5] != 4) {
        st->stats.rx_bad++;
        return;
    }
    uint16_t op = net_get16(a + 6);
    uint32_t spa = net_get32(a + 14), tpa = net_get32(a + 24);
    const uint8_t *sha = a + 8;
    if (tpa != st->ip) {
        st->stats.rx_ignored++;
        return;
    }
    if (sha[0] & 1) {
        st->stats.rx_bad++; /* a group address cannot own an IP address */
        return;
    }
    if (st->resolving)
        resolving_arp(st, a, len, st->vlan);
    arp_learn(st, spa, sha);
    if (op == ARP_REQUEST) {
        arp_fill(reply_payload(st), ARP_REPLY, st->mac, st->ip, sha, spa);
        send_now(st, sha, NET_ETHERTYPE_ARP, ARP_LEN);
        st->stats.arp_answered++;
    }
}

static void rx_icmp(struct net_stack *st, const uint8_t *eth_src, uint32_t src, const uint8_t *icmp, size_t len)
{
    if (len < NET_ICMP_HLEN || net_checksum(icmp, len, 0) != 0) {
        st->stats.rx_bad++;
        return;
    }
    if (icmp[0] == ICMP_ECHO_REPLY) {
        st->echo_id = net_get16(icmp + 4);
        st->echo_seq = net_get16(icmp + 6);
        st->echo_seen = true;
        st->stats.echo_replies++;
    } else if (icmp[0] == ICMP_ECHO_REQUEST && icmp[1] == 0) {
        uint8_t *ip = reply_payload(st), *out = ip + NET_IP_HLEN;
        memcpy(out, icmp, len);
        out[0] = ICMP_ECHO_REPLY;
        net_put16(out + 2, 0);
        net_put16(out + 2, net_checksum(out, len, 0));
        ip_header(st, ip, NET_IPPROTO_ICMP, src, len);
        send_now(st, eth_src, NET_ETHERTYPE_IPV4, NET_IP_HLEN + len);
        st->stats.echo_answered++;
    } else {
        st->stats.rx_ignored++;
    }
}

static void rx_udp(struct net_stack *st, const uint8_t *eth_src, uint32_t src, uint32_t dst, const uint8_t *udp,
                   size_t len)
{
    if (len < NET_UDP_HLEN || net_get16(udp + 4) < NET_UDP_HLEN || net_get16(udp + 4) > len) {
        st->stats.rx_bad++;
        return;
    }
    uint16_t ulen = net_get16(udp + 4);
    if (net_get16(udp + 6) != 0 && net_checksum(udp, ulen, pseudo_sum(src, dst, ulen)) != 0) {
        st->stats.rx_bad++;
        return;
    }
    st->stats.udp_rx++;
    if (!st->udp)
        return;
    struct net_udp d = {.src_ip = src, .dst_ip = dst, .sport = net_get16(udp), .dport = net_get16(udp + 2),
                        .src_mac = eth_src, .data = udp + NET_UDP_HLEN, .len = (uint16_t)(ulen - NET_UDP_HLEN)};
    st->udp(st, &d, st->udp_ctx);
}

static void rx_ipv4(struct net_stack *st, const uint8_t *eth_src, const uint8_t *ip, size_t len)
{
    if (len < NET_IP_HLEN || (ip[0] >> 4) != 4) {
        st->stats.rx_bad++;
        return;
    }
    size_t hlen = (size_t)(ip[0] & 0xf) * 4;
    uint16_t total = net_get16(ip + 2);
    if (hlen < NET_IP_HLEN || hlen > total || total > len || net_checksum(ip, hlen, 0) != 0) {
        st->stats.rx_bad++;
        return;
    }
    if (net_get16(ip + 6) & 0x3fff) { /* MF or a fragment offset: we do not reassemble */
        st->stats.rx_ignored++;
        return;
    }
    uint32_t src = net_get32(ip + 12), dst = net_get32(ip + 16);
    if (dst != st->ip) {
        st->stats.rx_ignored++;
        return;
    }
    if (ip[9] == NET_IPPROTO_ICMP)
        rx_icmp(st, eth_src, src, ip + hlen, total - hlen);
    else if (ip[9] == NET_IPPROTO_UDP)
        rx_udp(st, eth_src, src, dst, ip + hlen, total - hlen);
    else
        st->stats.rx_ignored++;
}

static void rx_frame(struct net_stack *st, size_t len)
{
    struct net_eth eth;
    st->stats.rx_frames++;
    if (!net_parse_eth(st->rx, len, &eth)) {
        st->stats.rx_bad++;
        return;
    }
    bool ours = mac_eq(eth.dst, st->mac) || mac_eq(eth.dst, net_broadcast);
    if (!ours || eth.tagged != (st->vlan != 0) || eth.vlan != st->vlan) {
        if (ours && st->resolving && eth.type == NET_ETHERTYPE_ARP)
            resolving_arp(st, st->rx + eth.hlen, len - eth.hlen, eth.vlan); /* another VLAN's counts too */
        st->stats.rx_ignored++;
        return;
    }
    const uint8_t *payload = st->rx + eth.hlen;
    if (eth.type == NET_ETHERTYPE_ARP)
        rx_arp(st, payload, len - eth.hlen);
    else if (eth.type == NET_ETHERTYPE_IPV4)
        rx_ipv4(st, eth.src, payload, len - eth.hlen);
    else
        st->stats.rx_ignored++;
}

int net_poll(struct net_stack *st, unsigned budget)
{
    int done = 0;
    while ((unsigned)done < budget) {
        int n = netif_recv(st->nif, st->rx, sizeof(st->rx));
        if (n < 0)
            return n;
        if (n == 0)
            break;
        rx_frame(st, (size_t)n);
        done++;
    }
    return done;
}

void net_wait(struct net_stack *st, bool want_tx_room, uint64_t deadline_ns)
{
    if (netif_arm(st->nif, want_tx_room))
        return;
    struct netif *one = st->nif;
    netif_wait(&one, 1, deadline_ns);
}

int net_step(struct net_stack *st, bool want_tx_room, uint64_t deadline_ns)
{
    int polled = net_poll(st, NETIF_RING_SIZE);
    if (polled < 0)
        return polled;
    if (!polled)
        net_wait(st, want_tx_room, deadline_ns);
    return 0;
}
