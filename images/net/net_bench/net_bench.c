// SPDX-License-Identifier: MIT
// Network benchmarks (docs/benchmarks.md, docs/networking.md), under icount so the unit is
// instructions of the whole system (both guests, the switch if any, and the hypervisor):
//   role=client ip=<ours> peer=<ip> ping=<figure> samples=<n>   ping round trips, one sample each
//       udp=1   then UDP streams in 64-byte and 1,500-byte frames (headers included), without
//               byte checks: net_udp_bytes_per_kinsn_64 / _1500 (UDP payload bytes per 1,000
//               instructions), then "bye"
//   role=server ip=<ours>                                        answers until the client's bye
#include <moat/bench.h>
#include <moat/net_stream.h>
#include <moat/test.h>

#define WAIT_NS (120 * NS_PER_SEC)
#define FRAME_OVERHEAD (NET_ETH_HLEN + NET_IP_HLEN + NET_UDP_HLEN) /* 42: an untagged UDP frame's headers */

static struct netif nif;
static struct net_stack st;
static struct net_stream stream;
static uint64_t samples[BENCH_MAX_SAMPLES];

static void ping_figure(uint32_t peer, const char *figure, unsigned n)
{
    unsigned failed = 0;
    uint16_t seq = 0;
    BENCH_SAMPLES(samples, n, 20, failed += net_ping(&st, peer, seq++, 56, now_ns() + WAIT_NS) != 0);
    xtf_assert(!failed, "%u pings went unanswered", failed);
    bench_report(figure, samples, n, "instructions");
}

static void udp_figure(uint32_t peer, const char *figure, unsigned frame, unsigned datagrams)
{
    unsigned size = frame - FRAME_OVERHEAD;
    struct net_stream_result r;
    /* A warm-up stream first (ARP, caches), then the measured one. */
    xtf_assert(net_stream_send(&stream, peer, 64u * (size - 4), size, now_ns() + WAIT_NS, &r) == 0, "warm-up");
    uint64_t t0 = bench_tsc();
    int rc = net_stream_send(&stream, peer, (uint64_t)datagrams * (size - 4), size, now_ns() + WAIT_NS, &r);
    uint64_t insns = bench_net(bench_tsc() - t0);
    xtf_assert(rc == 0 && r.match, "stream: %d", rc);
    bench_report_value(figure, r.datagrams * size * 1000 / (insns ? insns : 1), "bytes_per_kinsn");
}

void test_main(void)
{
    char arg[32];
    uint32_t ip, peer = 0;
    if (!cmdline_get("ip", arg, sizeof(arg)) || !net_parse_ip(arg, &ip)) {
        xtf_error("Error: ip=<a.b.c.d>\n");
        return;
    }
    timer_bind();
    xtf_assert(netif_open(&nif, 0, now_ns() + WAIT_NS) == 0, "connect");
    net_init(&st, &nif, ip, 0);
    net_stream_init(&stream, &st, 0);
    if (cmdline_has("role=client")) {
        xtf_assert(cmdline_get("peer", arg, sizeof(arg)) && net_parse_ip(arg, &peer), "peer=<ip>");
        if (cmdline_get("ping", arg, sizeof(arg)))
            ping_figure(peer, arg, (unsigned)cmdline_ulong("samples", 200));
        if (cmdline_has("udp")) {
            udp_figure(peer, "net_udp_bytes_per_kinsn_64", 64, 4000);
            udp_figure(peer, "net_udp_bytes_per_kinsn_1500", 1500, 2000);
        }
        xtf_assert(net_stream_bye(&stream, peer, now_ns() + WAIT_NS) == 0, "bye");
    } else {
        xtf_assert(net_stream_serve(&stream, 0, 1, now_ns() + 10 * WAIT_NS) == 0, "serve");
    }
    netif_close(&nif, now_ns() + WAIT_NS);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
