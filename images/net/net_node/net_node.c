// SPDX-License-Identifier: MIT
// A network node for the link tests (docs/networking.md): one interface on one link of its start
// info, the small stack, and a list of things to do, in this order:
//   link=<n>                 which link (default 0)
//   ip=<a.b.c.d>             our address (required)
//   vlan=<id>                tag our frames with this VLAN (a switch trunk port); default untagged
//   ping=<ip>[@vlan],...     ping each target `count` times (default 10), every reply must come
//   unreachable=<ip>[@vlan],...  each must NOT answer (ARP or echo) within 2 s
//   stream=<ip>              stream `bytes` (default 1 MiB) of UDP in datagrams of `size` payload
//                            bytes (default 1024); the receiver's checksum must match ours
//   bye=<ip>,...             tell each that we are done
//   serve=<streams>          answer until that many streams have ended ...
//   byes=<n>                 ... and that many byes have come (both default 0)
// Everything else is answered all along (ARP, echo). At the end it prints its interface and stack
// counters and closes the link: "closed: 0 grants/mappings held" when everything was given back.
#include <moat/net_stream.h>
#include <moat/test.h>

#define WAIT_NS (60 * NS_PER_SEC)
#define UNREACHABLE_NS (2 * NS_PER_SEC)
#define PING_TRIES 5
#define PING_WAIT_NS (2 * NS_PER_SEC)

static struct netif nif;
static struct net_stack st;
static struct net_stream stream;

/* The next "ip[@vlan]" of a comma-separated list; false at its end. */
static bool next_target(const char **cursor, uint32_t *ip, uint16_t *vlan)
{
    const char *p = *cursor;
    if (!*p || *p == ' ')
        return false;
    char word[32];
    size_t n = 0;
    while (p[n] && p[n] != ',' && p[n] != ' ' && n < sizeof(word) - 1) {
        word[n] = p[n];
        n++;
    }
    word[n] = 0;
    *cursor = p + n + (p[n] == ',');
    char *at = NULL;
    for (char *c = word; *c && !at; c++)
        if (*c == '@')
            at = c;
    *vlan = st.vlan;
    if (at) {
        *at = 0;
        unsigned long v = 0;
        for (const char *d = at + 1; *d >= '0' && *d <= '9'; d++)
            v = v * 10 + (unsigned long)(*d - '0');
        *vlan = (uint16_t)v;
    }
    if (!net_parse_ip(word, ip)) {
        xtf_error("Error: bad address %s\n", word);
        return false;
    }
    return true;
}

static void ping_all(const char *list, unsigned count)
{
    uint32_t ip;
    uint16_t vlan, base = st.vlan;
    char buf[16];
    while (next_target(&list, &ip, &vlan)) {
        net_set_vlan(&st, vlan);
        unsigned got = 0;
        uint64_t best = ~0ull, worst = 0;
        for (unsigned i = 0; i < count; i++) {
            uint64_t t0 = now_ns();
            int rc = NETIF_ETIMEDOUT;
            /* A frame may be lost to a full ring (someone floods the VLAN): try again, as ping does. */
            for (unsigned attempt = 0; attempt < PING_TRIES && rc == NETIF_ETIMEDOUT; attempt++)
                rc = net_ping(&st, ip, (uint16_t)i, 56, now_ns() + PING_WAIT_NS);
            uint64_t dt = now_ns() - t0;
            if (rc == 0) {
                got++;
                best = dt < best ? dt : best;
                worst = dt > worst ? dt : worst;
            }
        }
        xtf_check(got == count, "ping %s", net_format_ip(buf, ip));
        printf("ping %s vlan %u: %u/%u replies, rtt %lu..%lu us\n", net_format_ip(buf, ip), vlan, got, count,
               (unsigned long)(got ? best / NS_PER_US : 0), (unsigned long)(worst / NS_PER_US));
    }
    net_set_vlan(&st, base);
}

static void unreachable_all(const char *list)
{
    uint32_t ip;
    uint16_t vlan, base = st.vlan;
    char buf[16];
    while (next_target(&list, &ip, &vlan)) {
        net_set_vlan(&st, vlan);
        int rc = net_ping(&st, ip, 0, 56, now_ns() + UNREACHABLE_NS);
        xtf_check(rc == NETIF_ETIMEDOUT, "%s answered (%d): it should be unreachable", net_format_ip(buf, ip), rc);
        printf("unreachable %s vlan %u: %s\n", net_format_ip(buf, ip), vlan,
               rc == NETIF_ETIMEDOUT ? "no answer, as expected" : "ANSWERED");
    }
    net_set_vlan(&st, base);
}

static void stream_to(uint32_t ip)
{
    char buf[16];
    struct net_stream_result r;
    uint64_t bytes = cmdline_ulong("bytes", 1u << 20);
    unsigned size = (unsigned)cmdline_ulong("size", 1024);
    int rc = net_stream_send(&stream, ip, bytes, size, now_ns() + 4 * WAIT_NS, &r);
    if (rc) {
        xtf_failure("Fail: stream to %s: %d (%s)\n", net_format_ip(buf, ip), rc, nif.why ? nif.why : "");
        return;
    }
    printf("stream to %s: %lu bytes in %lu datagrams, %lu ms, checksum %016lx, receiver's %016lx: %s\n",
           net_format_ip(buf, ip), (unsigned long)r.bytes, (unsigned long)r.datagrams,
           (unsigned long)(r.ns / NS_PER_MS), (unsigned long)r.checksum, (unsigned long)r.peer_checksum,
           r.match ? "match" : "MISMATCH");
    xtf_check(r.match && r.bytes == bytes, "stream checksum");
}

static void bye_all(const char *list)
{
    uint32_t ip;
    uint16_t vlan, base = st.vlan;
    char buf[16];
    while (next_target(&list, &ip, &vlan)) {
        net_set_vlan(&st, vlan);
        xtf_check(net_stream_bye(&stream, ip, now_ns() + WAIT_NS) == 0, "bye to %s", net_format_ip(buf, ip));
    }
    net_set_vlan(&st, base);
}

static void serve(void)
{
    unsigned streams = (unsigned)cmdline_ulong("serve", 0), byes = (unsigned)cmdline_ulong("byes", 0);
    if (!streams && !byes)
        return;
    int rc = net_stream_serve(&stream, streams, byes, now_ns() + 4 * WAIT_NS);
    xtf_check(rc == 0, "serve: %d (%s)", rc, nif.why ? nif.why : "");
    char buf[16];
    for (unsigned i = 0; i < NET_STREAM_PEERS; i++) {
        const struct net_stream_peer *p = &stream.peers[i];
        if (!p->fin)
            continue;
        bool ok = !p->bad && p->fin_bytes == p->bytes && p->fin_sum == p->fnv;
        printf("stream from %s: %lu bytes, checksum %016lx, sender's %016lx: %s\n", net_format_ip(buf, p->ip),
               (unsigned long)p->bytes, (unsigned long)p->fnv, (unsigned long)p->fin_sum,
               ok ? "all as expected" : "MISMATCH");
        xtf_check(ok, "stream from %s", buf);
    }
}

void test_main(void)
{
    char arg[200], buf[16], mac[18];
    unsigned link = (unsigned)cmdline_ulong("link", 0);
    uint32_t ip;
    if (!cmdline_get("ip", arg, sizeof(arg)) || !net_parse_ip(arg, &ip)) {
        xtf_error("Error: usage: ip=<a.b.c.d> [link=n] [vlan=id] [ping=..] [stream=..] [serve=n]\n");
        return;
    }
    int rc = netif_open(&nif, link, now_ns() + WAIT_NS);
    if (rc) {
        xtf_failure("Fail: link %u: cannot connect: %d (%s)\n", link, rc, nif.why ? nif.why : "");
        netif_close(&nif, 0);
        return;
    }
    printf("link %u: connected to %s as %s, %s %s, vlans 0x%lx\n", link, nif.link->peer_name,
           nif.role == LINK_ROLE_GRANTER ? "granter" : "mapper", net_format_ip(buf, ip),
           netif_format_mac(mac, nif.mac), (unsigned long)nif.link->vlans);
    net_init(&st, &nif, ip, (uint16_t)cmdline_ulong("vlan", 0));
    net_stream_init(&stream, &st, NET_STREAM_VERIFY);

    if (cmdline_get("ping", arg, sizeof(arg)))
        ping_all(arg, (unsigned)cmdline_ulong("count", 10));
    if (cmdline_get("unreachable", arg, sizeof(arg)))
        unreachable_all(arg);
    if (cmdline_get("stream", arg, sizeof(arg))) {
        if (net_parse_ip(arg, &ip))
            stream_to(ip);
        else
            xtf_error("Error: stream=%s\n", arg);
    }
    if (cmdline_get("bye", arg, sizeof(arg)))
        bye_all(arg);
    serve();

    printf("counters: tx %lu frames, rx %lu frames (%lu ignored, %lu bad), ring full %lu, peer errors %lu/%lu\n",
           (unsigned long)st.stats.tx_frames, (unsigned long)st.stats.rx_frames, (unsigned long)st.stats.rx_ignored,
           (unsigned long)st.stats.rx_bad, (unsigned long)nif.stats.tx_full, (unsigned long)nif.stats.tx_errors,
           (unsigned long)nif.stats.rx_errors);
    unsigned held = netif_close(&nif, now_ns() + WAIT_NS);
    printf("closed: %u grants/mappings held\n", held);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
