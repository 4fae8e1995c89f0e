// SPDX-License-Identifier: MIT
// vchan throughput between two domains, in bytes per 1,000 instructions (under icount the TSC
// counts every instruction: both guests' and the hypervisor's, so this is the whole system's
// cost of moving the bytes).
//   role=server  grants the ring (2 KiB towards it) and reads everything in 4 KiB reads
//   role=client  streams BYTES per figure with writes of 64 B, then of 4 KiB, and reports
//   peer=<domid>
#include <moat/bench.h>
#include <moat/gnttab.h>
#include <moat/test.h>
#include <moat/vchan.h>

#define BYTES (1u << 20)
#define WARMUP_BYTES (64u << 10)

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t ring[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t buf[4096];
static struct vchan v;

static void stream(uint32_t total, uint32_t write_size)
{
    for (uint32_t done = 0; done < total; done += write_size)
        xtf_assert(vchan_send(&v, buf, write_size) == 0, "send");
}

static void client(domid_t peer)
{
    xtf_assert(vchan_client_init(&v, peer, VCHAN_DEFAULT_REF, 30 * NS_PER_SEC) == 0, "client_init");
    static const struct { const char *figure; uint32_t size; } runs[] = {
        { "vchan_64b", 64 }, { "vchan_4kib", 4096 },
    };
    for (unsigned r = 0; r < ARRAY_SIZE(runs); r++) {
        stream(WARMUP_BYTES, runs[r].size);
        uint64_t t0 = bench_tsc();
        stream(BYTES, runs[r].size);
        /* The server acknowledges the last byte: the time covers its reads too. */
        uint8_t ack;
        xtf_assert(vchan_recv(&v, &ack, 1) == 0, "ack");
        uint64_t insns = bench_net(bench_tsc() - t0);
        bench_report_value(runs[r].figure, (uint64_t)BYTES * 1000 / (insns ? insns : 1), "bytes_per_kinsn");
    }
    vchan_close(&v, 0);
}

static void server(domid_t peer)
{
    xtf_assert(gnttab_setup(table, 1, 1) == GNTST_okay, "setup_table");
    xtf_assert(vchan_server_init(&v, ring, peer, VCHAN_DEFAULT_REF, 11, 10) == 0, "server_init");
    xtf_assert(vchan_server_wait(&v, 30 * NS_PER_SEC) == 0, "client never came");
    for (unsigned r = 0; r < 2; r++) {
        for (uint32_t done = 0; done < WARMUP_BYTES + BYTES; done += sizeof(buf))
            xtf_assert(vchan_recv(&v, buf, sizeof(buf)) == 0, "recv");
        xtf_assert(vchan_send(&v, buf, 1) == 0, "ack");
    }
    xtf_assert(vchan_close(&v, 10 * NS_PER_SEC) == 0, "close");
}

void test_main(void)
{
    domid_t peer = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    if (cmdline_has("role=server"))
        server(peer);
    else if (cmdline_has("role=client"))
        client(peer);
    else
        xtf_error("Error: role=server|client\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
