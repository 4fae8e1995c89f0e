// SPDX-License-Identifier: MIT
// vchan demo, client side: maps the server's ring (ref VCHAN_DEFAULT_REF), streams `bytes=`
// (default 16 MiB) of the demo stream in writes of varying size (so the ring wraps at every
// offset), then reads the server's checksum and compares it with its own.
//   peer=<domid>   the server
#include <moat/test.h>
#include <moat/vchan.h>

#include "../vchan_server/vchan_demo.h"

static uint8_t chunk[4096];

void test_main(void)
{
    domid_t server = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    uint32_t total = (uint32_t)cmdline_ulong("bytes", DEMO_BYTES);
    xtf_assert(server != DOMID_INVALID && total % 8 == 0, "usage: peer=<domid> [bytes=n, a multiple of 8]");
    static struct vchan v;
    int rc = vchan_client_init(&v, server, VCHAN_DEFAULT_REF, 30 * NS_PER_SEC);
    xtf_assert(rc == 0, "vchan_client_init: %d", rc);
    static const uint32_t sizes[] = { 4096, 64, 1000, 8, 3000, 2048, 520 };
    uint64_t start = now_ns(), sum = FNV_OFFSET, state = DEMO_SEED;
    uint32_t done = 0;
    for (unsigned i = 0; done < total; i++) {
        uint32_t n = sizes[i % ARRAY_SIZE(sizes)];
        if (n > total - done)
            n = total - done;
        stream_fill(&state, chunk, n);
        sum = fnv1a(sum, chunk, n);
        rc = vchan_send(&v, chunk, n);
        xtf_assert(rc == 0, "send at %u: %d", done, rc);
        done += n;
    }
    uint64_t theirs = 0;
    rc = vchan_recv(&v, &theirs, sizeof(theirs));
    xtf_assert(rc == 0, "receiving the checksum: %d", rc);
    uint64_t ms = (now_ns() - start) / NS_PER_MS;
    printf("sent %u bytes in %lu ms, checksum %016lx, server's %016lx\n", done, (unsigned long)ms,
           (unsigned long)sum, (unsigned long)theirs);
    xtf_check(theirs == sum, "checksums differ");
    vchan_close(&v, 0);
    if (xtf_result() == XTF_RUNNING)
        xtf_success("vchan: %u bytes streamed, checksums match\n", done);
}
