// SPDX-License-Identifier: MIT
// The switch domain (docs/networking.md): one port per link of its start info. It forwards
// Ethernet frames by destination MAC address within a VLAN and never across: each port's VLANs are
// the STE types the switch and that member both hold, which the hypervisor publishes in the start
// info (start_link.vlans, bit t = VLAN t + 1) and keeps current when the policy changes; the switch
// reads them afresh for every frame it takes in and every port it delivers to. A port with one VLAN
// is an access port (untagged frames only), a port with several a trunk (802.1Q-tagged frames, with
// one of its VLANs, only).
//
// The forwarding table is bounded (FDB_SIZE entries keyed by VLAN and address, at most
// FDB_PER_PORT learned from one port, so a member that floods source addresses only churns its
// own entries); an unknown or group destination is flooded to the other ports of the frame's VLAN
// only. Each port gets at most BURST frames a round, and a full member ring drops the frame for
// that member only, so a flooding or stuck member cannot stall the others. A member that breaks
// the ring protocol loses its port; the switch ends its grants once it has let go of the pages.
//
// The switch ends when every port is down (each member left, died, broke the protocol or never
// came) and every grant has been ended: "switch: stopped: ..." with the totals.
#include <moat/guest.h>
#include <moat/net.h>

#define PORTS START_MAX_LINKS
#define FDB_SIZE 128
#define FDB_PER_PORT 8
#define BURST 16
#define CONNECT_NS (60 * NS_PER_SEC)
#define TICK_NS (200 * NS_PER_MS)
/* Every port down, grants still mapped: their members are dying (their mappings end with them,
 * which sends nothing), so look again soon rather than at the next tick. */
#define HELD_POLL_NS (10 * NS_PER_MS)

enum port_state { PORT_NONE, PORT_WAITING, PORT_UP, PORT_DOWN };

struct counters {
    uint64_t in, out, flooded;
    uint64_t drop_vlan;     /* no VLAN on this port, or a tag for a VLAN the port is not on */
    uint64_t drop_tagged;   /* a tagged frame on an access port */
    uint64_t drop_untagged; /* an untagged frame on a trunk port */
    uint64_t drop_src;      /* a group source address */
    uint64_t drop_bad;      /* shorter than a header, or too long to tag */
    uint64_t drop_full;     /* delivered to this port, but its ring was full */
};

struct port {
    struct netif nif;
    enum port_state state;
    uint64_t since;
    unsigned held; /* grants not ended yet, after the port went down */
    struct counters c;
};

struct fdb_entry {
    uint8_t mac[NET_ETH_ALEN];
    uint16_t vid;
    uint8_t port;
    bool used;
    uint64_t stamp;
};

static struct port ports[PORTS];
static unsigned nports;
static struct fdb_entry fdb[FDB_SIZE];
static uint64_t fdb_clock, fdb_learned, fdb_evicted;
static uint8_t frame[NETIF_FRAME_MAX], out[NETIF_FRAME_MAX + NET_VLAN_HLEN];

#define say(fmt, ...) printf("switch: " fmt "\n", ##__VA_ARGS__)

static uint64_t vlans_of(const struct port *p) { return __atomic_load_n(&p->nif.link->vlans, __ATOMIC_ACQUIRE); }
static bool on_vlan(uint64_t vlans, uint16_t vid) { return vid >= 1 && vid <= 64 && (vlans >> (vid - 1)) & 1; }
/* 0, 1 or "more than one": all the port mode needs (no libgcc for popcount). */
static unsigned nr_vlans(uint64_t vlans) { return !vlans ? 0 : !(vlans & (vlans - 1)) ? 1 : 2; }

static void describe_vlans(char *buf, size_t size, uint64_t vlans)
{
    size_t n = 0;
    buf[0] = 0;
    for (unsigned t = 0; t < 64 && n + 1 < size; t++)
        if ((vlans >> t) & 1)
            n += (size_t)snprintf(buf + n, size - n, "%s%u", n ? "," : "", t + 1);
    if (!vlans)
        snprintf(buf, size, "none");
}

/* ---- the forwarding table ---- */

static struct fdb_entry *fdb_find(const uint8_t *mac, uint16_t vid)
{
    for (unsigned i = 0; i < FDB_SIZE; i++)
        if (fdb[i].used && fdb[i].vid == vid && memcmp(fdb[i].mac, mac, NET_ETH_ALEN) == 0)
            return &fdb[i];
    return NULL;
}

static void fdb_learn(const uint8_t *mac, uint16_t vid, unsigned port)
{
    struct fdb_entry *e = fdb_find(mac, vid);
    if (!e) {
        struct fdb_entry *free = NULL, *oldest_own = NULL, *oldest = NULL;
        unsigned own = 0;
        for (unsigned i = 0; i < FDB_SIZE; i++) {
            struct fdb_entry *x = &fdb[i];
            if (!x->used) {
                free = free ? free : x;
                continue;
            }
            if (x->port == port) {
                own++;
                oldest_own = !oldest_own || x->stamp < oldest_own->stamp ? x : oldest_own;
            }
            oldest = !oldest || x->stamp < oldest->stamp ? x : oldest;
        }
        /* A port past its share replaces its own oldest entry, never another port's. */
        e = own >= FDB_PER_PORT ? oldest_own : free ? free : oldest;
        if (e->used)
            fdb_evicted++;
        memcpy(e->mac, mac, NET_ETH_ALEN);
        e->vid = vid;
        e->used = true;
        fdb_learned++;
    }
    e->port = (uint8_t)port;
    e->stamp = ++fdb_clock;
}

static void fdb_forget_port(unsigned port)
{
    for (unsigned i = 0; i < FDB_SIZE; i++)
        if (fdb[i].used && fdb[i].port == port)
            fdb[i].used = false;
}

/* ---- forwarding ---- */

/* Delivers a frame of VLAN vid to port p, tagged if p is a trunk; p's VLANs are checked again here. */
static bool deliver(struct port *p, uint16_t vid, const struct net_eth *eth, const uint8_t *payload, size_t plen)
{
    uint64_t vlans = vlans_of(p);
    if (p->state != PORT_UP || p->nif.closed || !on_vlan(vlans, vid))
        return false; /* a member that went (its port goes down this round) gets nothing more */
    size_t h = 12;
    memcpy(out, eth->dst, NET_ETH_ALEN);
    memcpy(out + 6, eth->src, NET_ETH_ALEN);
    if (nr_vlans(vlans) > 1) {
        net_put16(out + h, NET_ETHERTYPE_VLAN);
        net_put16(out + h + 2, vid);
        h += NET_VLAN_HLEN;
    }
    net_put16(out + h, eth->type);
    h += 2;
    if (h + plen > NETIF_FRAME_MAX) {
        p->c.drop_bad++;
        return false;
    }
    memcpy(out + h, payload, plen);
    int rc = netif_send(&p->nif, out, h + plen);
    if (rc == 0)
        p->c.out++;
    else
        p->c.drop_full++; /* a full ring (or a port going down): this member misses the frame */
    return rc == 0;
}

static void forward(unsigned in_port, size_t len)
{
    struct port *in = &ports[in_port];
    struct net_eth eth;
    in->c.in++;
    if (!net_parse_eth(frame, len, &eth)) {
        in->c.drop_bad++;
        return;
    }
    uint64_t vlans = vlans_of(in);
    uint16_t vid;
    if (nr_vlans(vlans) == 0) {
        in->c.drop_vlan++; /* the policy lets this member share nothing with the switch (any more) */
        return;
    }
    if (nr_vlans(vlans) == 1) {
        if (eth.tagged) {
            in->c.drop_tagged++; /* no VLAN hopping by tagging (or double tagging) on an access port */
            return;
        }
        vid = (uint16_t)(__builtin_ctzll(vlans) + 1);
    } else {
        if (!eth.tagged) {
            in->c.drop_untagged++;
            return;
        }
        vid = eth.vlan;
        if (!on_vlan(vlans, vid)) {
            in->c.drop_vlan++;
            return;
        }
    }
    if (eth.src[0] & 1) {
        in->c.drop_src++;
        return;
    }
    fdb_learn(eth.src, vid, in_port);
    const uint8_t *payload = frame + eth.hlen;
    size_t plen = len - eth.hlen;
    if (!(eth.dst[0] & 1)) {
        struct fdb_entry *e = fdb_find(eth.dst, vid);
        if (e) {
            if (e->port != in_port)
                deliver(&ports[e->port], vid, &eth, payload, plen);
            return;
        }
    }
    /* Unknown or group destination: every other port of this VLAN, and only those. */
    in->c.flooded++;
    for (unsigned i = 0; i < nports; i++)
        if (i != in_port)
            deliver(&ports[i], vid, &eth, payload, plen);
}

/* ---- ports ---- */

static void port_down(unsigned i, const char *why)
{
    struct port *p = &ports[i];
    const struct counters *c = &p->c;
    fdb_forget_port(i);
    p->state = PORT_DOWN;
    p->held = netif_close(&p->nif, 0);
    say("port %u (%s): down: %s; %u grants still mapped", i, p->nif.link->peer_name, why, p->held);
    say("port %u (%s): in %lu out %lu flooded %lu bad-requests %lu; dropped: vlan %lu tagged %lu untagged %lu "
        "source %lu bad %lu full %lu",
        i, p->nif.link->peer_name, (unsigned long)c->in, (unsigned long)c->out, (unsigned long)c->flooded,
        (unsigned long)p->nif.stats.rx_errors, (unsigned long)c->drop_vlan, (unsigned long)c->drop_tagged,
        (unsigned long)c->drop_untagged, (unsigned long)c->drop_src, (unsigned long)c->drop_bad,
        (unsigned long)c->drop_full);
}

static void port_start(unsigned i)
{
    struct port *p = &ports[i];
    char mac[18], vl[64];
    int rc = netif_start(&p->nif, i);
    const struct start_link *l = netif_link(i);
    uint64_t vlans = l->vlans;
    describe_vlans(vl, sizeof(vl), vlans);
    if (rc) {
        p->state = PORT_DOWN;
        say("port %u (%s): refused: %d (the policy lets the switch share nothing with it)", i, l->peer_name, rc);
        return;
    }
    p->state = PORT_WAITING;
    p->since = now_ns();
    say("port %u: link %u to %s (%s), VLAN %s (%s port)", i, l->index, l->peer_name,
        netif_format_mac(mac, l->peer_mac), vl, nr_vlans(vlans) > 1 ? "trunk" : "access");
}

/* One round over the ports: connects, forwards at most BURST frames from each. True if anything happened. */
static bool round_robin(void)
{
    bool work = false;
    for (unsigned i = 0; i < nports; i++) {
        struct port *p = &ports[i];
        if (p->state == PORT_WAITING) {
            int rc = netif_try_connect(&p->nif);
            if (rc == 0) {
                p->state = PORT_UP;
                say("port %u (%s): up", i, p->nif.link->peer_name);
                work = true;
            } else if (rc != NETIF_EAGAIN) {
                port_down(i, p->nif.why ? p->nif.why : "could not connect");
            } else if (now_ns() - p->since > CONNECT_NS) {
                port_down(i, "the member never connected");
            }
            continue;
        }
        if (p->state != PORT_UP)
            continue;
        for (unsigned k = 0; k < BURST; k++) {
            int n = netif_recv(&p->nif, frame, sizeof(frame));
            if (n <= 0) {
                if (n < 0)
                    port_down(i, p->nif.why ? p->nif.why : "receive failed");
                break;
            }
            forward(i, (size_t)n);
            work = true;
        }
        /* Take the member's responses now, not only at the next delivery: a member that lies
         * about them loses its port at once. */
        if (p->state == PORT_UP)
            netif_tx_room(&p->nif);
        if (p->state == PORT_UP && p->nif.broken)
            port_down(i, p->nif.why);
    }
    return work;
}

/* Sleeps unless work came in while arming; a port whose peer went away is taken down. */
static void sleep_on_ports(void)
{
    struct netif *live[PORTS];
    unsigned n = 0;
    bool busy = false;
    for (unsigned i = 0; i < nports; i++) {
        struct port *p = &ports[i];
        if (p->state != PORT_UP && p->state != PORT_WAITING)
            continue;
        /* A port whose member went stays up for the next round, which forwards what the member
         * sent before it went (netif_recv gives those, then NETIF_ECLOSED) and takes it down:
         * going down here lost, uncounted, the frames posted since the last round. */
        if (netif_arm(&p->nif, false))
            busy = true;
        live[n++] = &p->nif;
    }
    if (!busy)
        netif_wait(live, n, now_ns() + TICK_NS);
}

int main(const struct start_info *si)
{
    (void)si;
    nports = netif_links();
    if (!nports) {
        say("no links: nothing to switch");
        return 0;
    }
    for (unsigned i = 0; i < nports; i++)
        port_start(i);
    for (;;) {
        bool work = round_robin();
        unsigned live = 0, held = 0;
        for (unsigned i = 0; i < nports; i++) {
            struct port *p = &ports[i];
            if (p->state == PORT_DOWN && p->held) {
                p->held = netif_close(&p->nif, 0); /* the member may have let go of the pages by now */
                if (!p->held)
                    say("port %u (%s): every grant ended", i, p->nif.link->peer_name);
            }
            live += p->state == PORT_UP || p->state == PORT_WAITING;
            held += p->held;
        }
        if (!live && !held)
            break;
        if (!live)
            sleep_ns(HELD_POLL_NS); /* only grants left to end */
        else if (!work)
            sleep_on_ports();
    }
    unsigned ended = 0, total = 0;
    for (unsigned i = 0; i < nports; i++) {
        ended += ports[i].nif.grants_ended;
        total += ports[i].nif.pages ? NETIF_PAGES : 0;
    }
    say("stopped: %u ports down, %u of %u grants ended, table: %lu learned, %lu evicted", nports, ended, total,
        (unsigned long)fdb_learned, (unsigned long)fdb_evicted);
    return ended == total ? 0 : 1;
}
