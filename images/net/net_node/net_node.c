// SPDX-License-Identifier: MIT
// A network node for the link tests (docs/networking.md): one interface on one link of its start
// info, the small stack, and a list of things to do, in this order:
//   link=<n>                 which link (default 0)
//   delay_ms=<ms>            wait this long after connecting before anything else
//   ip=<a.b.c.d>             our address (required)
//   vlan=<id>                tag our frames with this VLAN (a switch trunk port); default untagged
//   ping=<ip>[@vlan],...     ping each target `count` times (default 10), every reply must come
//   unreachable=<ip>[@vlan],...  none may answer ARP within 2 s (all asked at once, each
//                            on its VLAN through the whole window)
//   stream=<ip>              stream `bytes` (default 1 MiB) of UDP in datagrams of `size` payload
//                            bytes (default 1024); the receiver's checksum must match ours;
//                            rto_us=<us> goes back after that long without an acknowledgement
//                            (default NET_STREAM_RTO_NS: a short one makes the sender go back often)
//   relabel=<ssidref>        then give ourselves this label (needs load_policy): the hypervisor
//                            rewrites the link's VLANs, and the switch follows them at once
//   after_ping=, after_unreachable=   as ping= and unreachable=, after the relabel
//   bye=<ip>,...             tell each that we are done
//   serve=<streams>          answer until that many streams have ended ...
//   byes=<n>                 ... and that many byes have come (both default 0)
//   wait_gone                then wait until the peer has gone (closed or died)
//   until_gone=<name>,...    then answer until no domain of these names exists (needs read_state)
//   crash                    then fault (ud2) instead of closing: a member dying with the link up
//   refused                  the link must NOT connect (the MAC policy forbids it): success when
//                            opening fails with the hypervisor's refusal and nothing stays held;
//                            then it stays linger_ms (default 2000) so that its peer's attempt
//                            meets a live domain
// Everything else is answered all along (ARP, echo). At the end it prints its interface and stack
// counters and closes the link: "closed: 0 grants/mappings held, ports closed" when everything was
// given back.
#include <moat/acm.h>
#include <moat/evtchn.h>
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

/* Calls fn for each "ip[@vlan]" of a comma-separated list, on that target's VLAN. */
static void for_each_target(const char *list, void (*fn)(uint32_t ip, uint16_t vlan, unsigned arg), unsigned arg)
{
    uint32_t ip;
    uint16_t vlan, base = st.vlan;
    while (next_target(&list, &ip, &vlan)) {
        net_set_vlan(&st, vlan);
        fn(ip, vlan, arg);
    }
    net_set_vlan(&st, base);
}

static void ping_one(uint32_t ip, uint16_t vlan, unsigned count)
{
    char buf[16];
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

#define UNREACHABLE_MAX 8

/* unreachable=: every target at once, each asked for its address (ARP) on its own VLAN every
 * 100 ms through one window of UNREACHABLE_NS, the window each used to have alone; an answer
 * from any, on any VLAN, is a failure by itself (a ping needs it first) and ends the window. */
static void unreachable(const char *list)
{
    char buf[16];
    uint32_t ips[UNREACHABLE_MAX];
    uint16_t vlans[UNREACHABLE_MAX];
    unsigned n = 0, which = 0;
    while (n < UNREACHABLE_MAX && next_target(&list, &ips[n], &vlans[n]))
        n++;
    xtf_check(!*list || *list == ' ', "more than %u unreachable targets", UNREACHABLE_MAX);
    int rc = net_resolve_any(&st, ips, vlans, n, &which, now_ns() + UNREACHABLE_NS);
    for (unsigned i = 0; i < n; i++) {
        bool answered = rc != NETIF_ETIMEDOUT && (rc != 0 || i == which);
        xtf_check(!answered, "%s answered (%d): it should be unreachable", net_format_ip(buf, ips[i]), rc);
        printf("unreachable %s vlan %u: %s\n", net_format_ip(buf, ips[i]), vlans[i],
               answered ? "ANSWERED" : rc == NETIF_ETIMEDOUT ? "no answer, as expected" : "not asked to the end");
    }
}

static void bye_one(uint32_t ip, uint16_t vlan, unsigned unused)
{
    (void)vlan, (void)unused;
    char buf[16];
    xtf_check(net_stream_bye(&stream, ip, now_ns() + WAIT_NS) == 0, "bye to %s", net_format_ip(buf, ip));
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
    printf("stream to %s: went back %lu times\n", buf, (unsigned long)r.resent);
    xtf_check(r.match && r.bytes == bytes, "stream checksum");
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

static void relabel(uint32_t ssidref)
{
    uint64_t before = nif.link->vlans;
    struct acm_relabel out;
    long rc = acm_relabel(start_info->domid, ssidref, &out);
    if (rc) {
        xtf_failure("Fail: relabel to 0x%x: %ld\n", ssidref, rc);
        return;
    }
    printf("relabelled to 0x%08x: link vlans 0x%lx -> 0x%lx\n", ssidref, (unsigned long)before,
           (unsigned long)__atomic_load_n(&nif.link->vlans, __ATOMIC_ACQUIRE));
}

/* Whether a domain called name exists (we look at every domid: there are few). */
static bool domain_exists(const char *name)
{
    for (domid_t id = 0; id < MOAT_MAX_DOMAINS; id++) {
        struct moat_domctl_info info;
        if (domctl_getinfo(id, &info) == 0 && strncmp(info.name, name, sizeof(info.name)) == 0)
            return true;
    }
    return false;
}

static void until_gone(const char *list)
{
    uint64_t deadline = now_ns() + 4 * WAIT_NS;
    for (;;) {
        bool alive = false;
        char name[32];
        for (const char *p = list; *p && *p != ' ';) {
            size_t n = 0;
            while (p[n] && p[n] != ',' && p[n] != ' ' && n < sizeof(name) - 1) {
                name[n] = p[n];
                n++;
            }
            name[n] = 0;
            p += n + (p[n] == ',');
            alive = alive || domain_exists(name);
        }
        if (!alive)
            break;
        if (now_ns() >= deadline) {
            xtf_failure("Fail: %s did not go\n", list);
            return;
        }
        net_step(&st, false, now_ns() + 100 * NS_PER_MS);
    }
    printf("%s gone\n", list);
}

static bool port_closed(evtchn_port_t port)
{
    struct evtchn_status st;
    return evtchn_status(DOMID_SELF, port, &st) == 0 && st.status == EVTCHNSTAT_closed;
}

/* A forbidden link: the granter's channel (or the mapper's map) must have been refused. */
static void refused(unsigned link, int rc)
{
    bool granter = nif.role == LINK_ROLE_GRANTER;
    int want = granter ? NETIF_EEVTCHN : NETIF_EGRANT;
    printf("link %u to %s: %s refused: %d (%s)\n", link, netif_link(link) ? netif_link(link)->peer_name : "?",
           granter ? "offering it was" : "mapping it was", rc, rc == want ? "as the policy intends" : "UNEXPECTED");
    xtf_check(rc == want, "link %u: %d, expected %d", link, rc, want);
    xtf_check(!nif.connected && !nif.mapped && !nif.ports[0] && !nif.ports[1], "something stayed set up");
    /* Stay a while: the peer's own attempt must meet a live domain (and the MAC), not a dead one. */
    sleep_ns(cmdline_ulong("linger_ms", 2000) * NS_PER_MS);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}

/* Waits until the peer closes or dies (its side of our channel goes away). */
static void wait_gone(void)
{
    uint64_t deadline = now_ns() + 4 * WAIT_NS;
    while (netif_check_peer(&nif) && now_ns() < deadline) {
        net_step(&st, false, now_ns() + 100 * NS_PER_MS);
    }
    xtf_check(!netif_check_peer(&nif), "the peer never went away");
    printf("peer gone: %s\n", nif.why ? nif.why : "?");
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
    /* Sleeping binds the timer's VIRQ to a port: do it now, so that it never takes the number of a
     * link port we close (the check at the end wants those closed, not reused). */
    timer_bind();
    int rc = netif_open(&nif, link, now_ns() + WAIT_NS);
    if (cmdline_has("refused")) {
        refused(link, rc);
        return;
    }
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
    stream.rto_ns = cmdline_ulong("rto_us", stream.rto_ns / NS_PER_US) * NS_PER_US;
    for (uint64_t until = now_ns() + cmdline_ulong("delay_ms", 0) * NS_PER_MS; now_ns() < until;) {
        net_step(&st, false, until);
    }

    if (cmdline_get("ping", arg, sizeof(arg)))
        for_each_target(arg, ping_one, (unsigned)cmdline_ulong("count", 10));
    if (cmdline_get("unreachable", arg, sizeof(arg)))
        unreachable(arg);
    if (cmdline_get("stream", arg, sizeof(arg))) {
        if (net_parse_ip(arg, &ip))
            stream_to(ip);
        else
            xtf_error("Error: stream=%s\n", arg);
    }
    if (cmdline_get("relabel", arg, sizeof(arg)))
        relabel((uint32_t)cmdline_ulong("relabel", 0));
    if (cmdline_get("after_ping", arg, sizeof(arg)))
        for_each_target(arg, ping_one, (unsigned)cmdline_ulong("count", 10));
    if (cmdline_get("after_unreachable", arg, sizeof(arg)))
        unreachable(arg);
    if (cmdline_get("bye", arg, sizeof(arg)))
        for_each_target(arg, bye_one, 0);
    serve();
    if (cmdline_has("wait_gone"))
        wait_gone();
    if (cmdline_get("until_gone", arg, sizeof(arg)))
        until_gone(arg);

    printf("counters: tx %lu frames, rx %lu frames (%lu ignored, %lu bad), ring full %lu, peer errors %lu/%lu\n",
           (unsigned long)st.stats.tx_frames, (unsigned long)st.stats.rx_frames, (unsigned long)st.stats.rx_ignored,
           (unsigned long)st.stats.rx_bad, (unsigned long)nif.stats.tx_full, (unsigned long)nif.stats.tx_errors,
           (unsigned long)nif.stats.rx_errors);
    if (cmdline_has("crash")) {
        printf("crashing with the link up\n");
        console_flush();
        __asm__ volatile("ud2");
    }
    evtchn_port_t ports[2] = {nif.ports[0], nif.ports[1]};
    unsigned held = netif_close(&nif, now_ns() + WAIT_NS);
    bool closed = port_closed(ports[0]) && port_closed(ports[1]);
    printf("closed: %u grants/mappings held, ports %s\n", held, closed ? "closed" : "STILL OPEN");
    xtf_check(held == 0 && closed, "the link was not given back");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
