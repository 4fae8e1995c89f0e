// SPDX-License-Identifier: MIT
// Demo: the network step (docs/networking.md). Three actors on the switch domain (net-switch), each
// with one link to it from the start info; the system domain says go as for every actor.
//   role=web   a-www, customer A's web server (10.0.0.1): pings a-sql, streams 1 MiB of UDP to it
//              with a checksum, says bye
//   role=db    a-sql, customer A's database (10.0.0.2): takes the stream, checks every byte,
//              answers with its checksum
//   role=sniff b-sniff, customer B (10.0.0.3), on the same switch: first looks for a-www (and gets
//              no answer), then listens to everything the switch gives it until the second go, and
//              reports how much of it was customer A's (it must be none)
// Each then leaves (closes its link) at the system domain's last go.
//   a_macs=<prefix>   (sniff) customer A's addresses start so, e.g. 02:0a
#include <moat/net_stream.h>

#include "../common/demo.h"

#define WEB_IP NET_IP(10, 0, 0, 1)
#define DB_IP NET_IP(10, 0, 0, 2)
#define SNIFF_IP NET_IP(10, 0, 0, 3)
#define STREAM_BYTES (1u << 20)
#define PINGS 5

static struct netif nif;
static struct net_stack st;
static struct net_stream stream;

static void open_link(uint32_t ip)
{
    timer_bind(); /* before the link's ports, so it never takes one of their numbers */
    int rc = netif_open(&nif, 0, now_ns() + DEMO_WAIT_NS);
    if (rc)
        fail("link to %s: %d", netif_link(0) ? netif_link(0)->peer_name : "?", rc);
    net_init(&st, &nif, ip, 0);
    net_stream_init(&stream, &st, NET_STREAM_VERIFY);
}

static void leave(void)
{
    unsigned held = netif_close(&nif, now_ns() + DEMO_WAIT_NS);
    if (held)
        fail("%u pages of the link are still shared after closing", held);
}

static void web(void)
{
    char ip[16];
    actor_wait_go();
    unsigned replies = 0;
    for (unsigned i = 0; i < PINGS; i++)
        for (unsigned attempt = 0; attempt < 3; attempt++)
            if (net_ping(&st, DB_IP, (uint16_t)i, 56, now_ns() + NS_PER_SEC) == 0) {
                replies++;
                break;
            }
    say("ping a-sql (%s) through the switch: %u/%u replies", net_format_ip(ip, DB_IP), replies, PINGS);
    if (replies != PINGS)
        fail("a-sql did not answer every ping");
    struct net_stream_result r;
    int rc = net_stream_send(&stream, DB_IP, STREAM_BYTES, 1400, now_ns() + DEMO_WAIT_NS, &r);
    if (rc || !r.match)
        fail("stream to a-sql: %d, %s", rc, r.match ? "match" : "no match");
    say("streamed %lu bytes of UDP to a-sql in %lu datagrams, checksum %016lx, a-sql's %016lx: match",
        (unsigned long)r.bytes, (unsigned long)r.datagrams, (unsigned long)r.checksum,
        (unsigned long)r.peer_checksum);
    if (net_stream_bye(&stream, DB_IP, now_ns() + DEMO_WAIT_NS))
        fail("bye to a-sql");
    actor_done();
}

static void db(void)
{
    actor_wait_go();
    int rc = net_stream_serve(&stream, 1, 1, now_ns() + DEMO_WAIT_NS);
    if (rc)
        fail("serving a-www: %d", rc);
    const struct net_stream_peer *p = &stream.peers[0];
    if (!p->fin || p->bad || p->fin_bytes != p->bytes || p->fin_sum != p->fnv)
        fail("the stream from a-www is not what it said it sent");
    char ip[16];
    say("received %lu bytes from a-www (%s), all as expected, checksum %016lx", (unsigned long)p->bytes,
        net_format_ip(ip, p->ip), (unsigned long)p->fnv);
    actor_done();
}

static unsigned mac_prefix(uint8_t *prefix)
{
    char text[20];
    unsigned n = 0;
    if (!cmdline_get("a_macs", text, sizeof(text)))
        return 0;
    for (const char *p = text; p[0] && p[1] && n < NET_ETH_ALEN; p += 3) {
        unsigned v = 0;
        for (unsigned k = 0; k < 2; k++) {
            char c = p[k];
            v = v << 4 | (unsigned)(c >= '0' && c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        prefix[n++] = (uint8_t)v;
        if (p[2] != ':')
            break;
    }
    return n;
}

static void sniff(void)
{
    uint8_t a_prefix[NET_ETH_ALEN], mac[NET_ETH_ALEN];
    unsigned prefix_len = mac_prefix(a_prefix);
    if (!prefix_len)
        fail("usage: a_macs=<prefix of customer A's addresses>");
    actor_wait_go();
    char vl[8], ip[16];
    snprintf(vl, sizeof(vl), "%u", nif.link->vlans ? (unsigned)__builtin_ctzll(nif.link->vlans) + 1 : 0);
    if (net_resolve(&st, WEB_IP, mac, now_ns() + NS_PER_SEC) == 0)
        fail("a-www answered us: customer B can reach customer A");
    say("on the switch, VLAN %s; looked for a-www (%s): no answer, customer A is out of reach", vl,
        net_format_ip(ip, WEB_IP));
    actor_done();
    /* Listen to everything until the system domain's next go. */
    static uint8_t frame[NETIF_FRAME_MAX];
    uint64_t heard = 0, theirs = 0;
    for (;;) {
        int n;
        while ((n = netif_recv(&nif, frame, sizeof(frame))) > 0) {
            struct net_eth eth;
            heard++;
            if (net_parse_eth(frame, (size_t)n, &eth) && memcmp(eth.src, a_prefix, prefix_len) == 0)
                theirs++;
        }
        if (n < 0)
            fail("listening: %d", n);
        if (evtchn_port_pending(DEMO_CTL_PORT))
            break;
        if (!netif_arm(&nif, false)) {
            evtchn_port_t ports[3] = {DEMO_CTL_PORT, nif.ports[0], nif.ports[1]};
            sched_poll(ports, 3, now_ns() + DEMO_WAIT_NS);
        }
    }
    actor_wait_go();
    say("listened while customer A talked: heard %lu frames, %lu of them customer A's", (unsigned long)heard,
        (unsigned long)theirs);
    if (theirs)
        fail("customer A's frames reached customer B");
    actor_done();
}

int main(const struct start_info *si)
{
    (void)si;
    actor_ctl_open(); /* first: the control channel must be our port 1 */
    if (cmdline_has("role=web")) {
        open_link(WEB_IP);
        web();
    } else if (cmdline_has("role=db")) {
        open_link(DB_IP);
        db();
    } else if (cmdline_has("role=sniff")) {
        open_link(SNIFF_IP);
        sniff();
    } else {
        fail("usage: role=web|db|sniff");
    }
    actor_wait_go(); /* stay until the system domain lets us go (it checks our "done" first) */
    leave();
    return 0;
}
