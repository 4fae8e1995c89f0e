// SPDX-License-Identifier: MIT
// vchan demo, server side: grants the ring page, receives `bytes=` (default 16 MiB) from the
// client, checks them against the stream both sides generate, and sends back its checksum.
//   peer=<domid>   the client
#include <moat/gnttab.h>
#include <moat/test.h>
#include <moat/vchan.h>

#include "vchan_demo.h"

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t ring[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t got[4096];

void test_main(void)
{
    domid_t client = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    uint32_t total = (uint32_t)cmdline_ulong("bytes", DEMO_BYTES);
    xtf_assert(client != DOMID_INVALID && total % 8 == 0, "usage: peer=<domid> [bytes=n, a multiple of 8]");
    xtf_assert(gnttab_setup(table, 1, 1) == GNTST_okay, "setup_table");
    static struct vchan v;
    /* The client streams to us: our read ring (left) gets the 2 KiB half. */
    xtf_assert(vchan_server_init(&v, ring, client, VCHAN_DEFAULT_REF, 11, 10) == 0, "vchan_server_init");
    xtf_assert(vchan_server_wait(&v, 30 * NS_PER_SEC) == 0, "the client did not connect");
    uint64_t start = now_ns(), sum = FNV_OFFSET, state = DEMO_SEED;
    uint32_t done = 0, bad = 0;
    while (done < total) {
        uint32_t n = total - done < sizeof(got) ? total - done : (uint32_t)sizeof(got);
        int rc = vchan_recv(&v, got, n);
        xtf_assert(rc == 0, "recv at %u: %d", done, rc);
        if (!stream_matches(&state, got, n) && bad++ < 3)
            xtf_failure("Fail: bytes %u..%u differ from the stream\n", done, done + n);
        sum = fnv1a(sum, got, n);
        done += n;
    }
    uint64_t ms = (now_ns() - start) / NS_PER_MS;
    printf("received %u bytes in %lu ms, checksum %016lx\n", done, (unsigned long)ms, (unsigned long)sum);
    xtf_check(vchan_send(&v, &sum, sizeof(sum)) == 0, "sending the checksum back");
    xtf_check(vchan_close(&v, 10 * NS_PER_SEC) == 0, "the client never unmapped the ring");
    xtf_check(gnttab_flags(VCHAN_DEFAULT_REF) == 0, "the ring grant is still valid");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
