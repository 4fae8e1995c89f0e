// SPDX-License-Identifier: MIT
// A sniffer on a switch port (docs/networking.md): it takes every frame the switch gives it, answers
// nothing, and counts the frames that come from someone it must never hear from (another VLAN's
// addresses: as the frame's source, an ARP sender or an IPv4 source; frames merely asking about
// those addresses are its own VLAN's). It listens until the watched domains have all gone (it needs the read_state
// permission to look), then reports; success means it heard at least min_frames frames of its own
// VLAN and not one of the watched ones.
//   link=<n>                 its link (default 0)
//   watch_mac=<prefix>,...   source addresses starting with one of these (hex octets, e.g. 02:aa)
//                            are "theirs"
//   watch_ip=<ip>,...        ARP senders and IPv4 sources with one of these addresses are "theirs"
//   watch_type=<hex>         frames of this ethertype are "theirs" (e.g. 88b5, the flooder's)
//   until_gone=<name>,...    listen until no domain of these names exists
//   min_frames=<n>           frames it must hear (default 1)
#include <moat/net.h>
#include <moat/test.h>

#define MAX_WATCH 8
#define LOOK_NS (100 * NS_PER_MS)
#define LIMIT_NS (300 * NS_PER_SEC)

static struct netif nif;
static uint8_t frame[NETIF_FRAME_MAX];
static uint8_t watch_mac[MAX_WATCH][NET_ETH_ALEN];
static unsigned watch_mac_len[MAX_WATCH], nr_watch_mac;
static uint32_t watch_ip[MAX_WATCH];
static unsigned nr_watch_ip;
static uint16_t watch_type;
static char gone_names[MAX_WATCH][32];
static unsigned nr_gone;
static uint64_t heard, theirs, broadcast, by_type[3]; /* ARP, IPv4, other */

static unsigned hex_digit(char c)
{
    return c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
}

/* Splits a comma-separated value of the command line into words; returns how many. */
static unsigned words(const char *key, char out[][32], unsigned max)
{
    char arg[200];
    unsigned n = 0;
    if (!cmdline_get(key, arg, sizeof(arg)))
        return 0;
    for (const char *p = arg; *p && n < max;) {
        size_t len = 0;
        while (p[len] && p[len] != ',' && len < 31)
            len++;
        memcpy(out[n], p, len);
        out[n++][len] = 0;
        p += len + (p[len] == ',');
    }
    return n;
}

static void parse_watch(void)
{
    char list[MAX_WATCH][32];
    unsigned n = words("watch_mac", list, MAX_WATCH);
    for (unsigned i = 0; i < n; i++) {
        unsigned len = 0;
        for (const char *p = list[i]; p[0] && p[1] && len < NET_ETH_ALEN; p += 3) {
            unsigned hi = hex_digit(p[0]), lo = hex_digit(p[1]);
            if (hi > 15 || lo > 15)
                break;
            watch_mac[nr_watch_mac][len++] = (uint8_t)(hi << 4 | lo);
            if (p[2] != ':')
                break;
        }
        watch_mac_len[nr_watch_mac++] = len;
    }
    n = words("watch_ip", list, MAX_WATCH);
    for (unsigned i = 0; i < n; i++)
        if (net_parse_ip(list[i], &watch_ip[nr_watch_ip]))
            nr_watch_ip++;
    char type[8];
    if (cmdline_get("watch_type", type, sizeof(type)))
        for (const char *p = type; hex_digit(*p) < 16; p++)
            watch_type = (uint16_t)(watch_type << 4 | hex_digit(*p));
    nr_gone = words("until_gone", gone_names, MAX_WATCH);
}

static bool mac_watched(const uint8_t *mac)
{
    for (unsigned i = 0; i < nr_watch_mac; i++)
        if (watch_mac_len[i] && memcmp(mac, watch_mac[i], watch_mac_len[i]) == 0)
            return true;
    return false;
}

static bool ip_watched(uint32_t ip)
{
    for (unsigned i = 0; i < nr_watch_ip; i++)
        if (watch_ip[i] == ip)
            return true;
    return false;
}

static void classify(size_t len)
{
    struct net_eth eth;
    heard++;
    if (!net_parse_eth(frame, len, &eth))
        return;
    const uint8_t *p = frame + eth.hlen;
    size_t plen = len - eth.hlen;
    bool bad = mac_watched(eth.src) || (watch_type && eth.type == watch_type);
    if (eth.type == NET_ETHERTYPE_ARP) {
        by_type[0]++;
        if (plen >= 28)
            bad = bad || ip_watched(net_get32(p + 14)) || mac_watched(p + 8); /* the sender's */
    } else if (eth.type == NET_ETHERTYPE_IPV4) {
        by_type[1]++;
        if (plen >= NET_IP_HLEN)
            bad = bad || ip_watched(net_get32(p + 12)); /* the source */
    } else {
        by_type[2]++;
    }
    if (memcmp(eth.dst, net_broadcast, NET_ETH_ALEN) == 0)
        broadcast++;
    if (bad && theirs++ < 5) {
        char s[18], d[18];
        printf("sniffer: HEARD a watched frame: %s -> %s type 0x%04x, %zu bytes\n", netif_format_mac(s, eth.src),
               netif_format_mac(d, eth.dst), eth.type, len);
    }
}

/* Whether any domain named in until_gone still exists (domids are few: look at all of them). */
static bool watched_alive(void)
{
    for (domid_t id = 0; id < MOAT_MAX_DOMAINS; id++) {
        struct moat_domctl_info info;
        if (domctl_getinfo(id, &info) != 0)
            continue;
        for (unsigned i = 0; i < nr_gone; i++)
            if (strncmp(info.name, gone_names[i], sizeof(info.name)) == 0)
                return true;
    }
    return false;
}

void test_main(void)
{
    parse_watch();
    unsigned link = (unsigned)cmdline_ulong("link", 0);
    uint64_t min_frames = cmdline_ulong("min_frames", 1);
    int rc = netif_open(&nif, link, now_ns() + 60 * NS_PER_SEC);
    if (rc) {
        xtf_failure("Fail: link %u: cannot connect: %d\n", link, rc);
        return;
    }
    struct moat_domctl_info self;
    if (nr_gone && domctl_getinfo(start_info->domid, &self) != 0) {
        xtf_error("Error: until_gone needs the read_state permission\n");
        return;
    }
    printf("sniffer: listening on link %u to %s, vlans 0x%lx\n", link, nif.link->peer_name,
           (unsigned long)nif.link->vlans);
    uint64_t limit = now_ns() + LIMIT_NS, next_look = 0;
    for (;;) {
        int n;
        while ((n = netif_recv(&nif, frame, sizeof(frame))) > 0)
            classify((size_t)n);
        if (n < 0) {
            xtf_failure("Fail: receive: %d (%s)\n", n, nif.why ? nif.why : "");
            break;
        }
        uint64_t now = now_ns();
        if (now >= next_look) {
            if (!watched_alive())
                break;
            next_look = now + LOOK_NS;
        }
        if (now >= limit) {
            xtf_failure("Fail: the watched domains never went away\n");
            break;
        }
        if (!netif_arm(&nif, false)) {
            struct netif *one = &nif;
            netif_wait(&one, 1, next_look);
        }
    }
    while ((rc = netif_recv(&nif, frame, sizeof(frame))) > 0) /* whatever came last */
        classify((size_t)rc);
    printf("sniffer: heard %lu frames (%lu broadcast; ARP %lu, IPv4 %lu, other %lu), %lu of them watched\n",
           (unsigned long)heard, (unsigned long)broadcast, (unsigned long)by_type[0], (unsigned long)by_type[1],
           (unsigned long)by_type[2], (unsigned long)theirs);
    xtf_check(theirs == 0, "heard %lu watched frames", (unsigned long)theirs);
    xtf_check(heard >= min_frames, "heard only %lu frames, expected at least %lu", (unsigned long)heard,
              (unsigned long)min_frames);
    printf("sniffer: closed: %u grants/mappings held\n", netif_close(&nif, now_ns() + 10 * NS_PER_SEC));
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
