// SPDX-License-Identifier: MIT
// Demo: a-web, customer A's front end. When the system domain says go, it streams
// DEMO_VCHAN_BYTES of the demo stream to a-db over vchan (a-db grants the ring), reads back a-db's
// checksum and compares it with its own. Then it runs until customer A's management domain
// destroys it (customer A leaving the server).
//   db=<domid>   a-db, the vchan server
#include <moat/vchan.h>

#include "../common/demo.h"
#include "../vchan_server/vchan_demo.h"

static uint8_t chunk[4096];

static void stream(domid_t db)
{
    static struct vchan v;
    int rc = vchan_client_init(&v, db, VCHAN_DEFAULT_REF, DEMO_WAIT_NS);
    if (rc != 0)
        fail("vchan to a-db: %d", rc);
    // Writes of varying size, so the ring wraps at every offset.
    static const uint32_t sizes[] = { 4096, 64, 1000, 8, 3000, 2048, 520 };
    uint64_t start = now_ns(), sum = FNV_OFFSET, state = DEMO_SEED;
    uint32_t done = 0;
    for (unsigned i = 0; done < DEMO_VCHAN_BYTES; i++) {
        uint32_t n = sizes[i % ARRAY_SIZE(sizes)];
        if (n > DEMO_VCHAN_BYTES - done)
            n = DEMO_VCHAN_BYTES - done;
        stream_fill(&state, chunk, n);
        sum = fnv1a(sum, chunk, n);
        if ((rc = vchan_send(&v, chunk, n)) != 0)
            fail("vchan send at byte %u: %d", done, rc);
        done += n;
    }
    uint64_t theirs = 0;
    if ((rc = vchan_recv(&v, &theirs, sizeof(theirs))) != 0)
        fail("receiving a-db's checksum: %d", rc);
    uint64_t ms = (now_ns() - start) / NS_PER_MS;
    vchan_close(&v, 0);
    if (theirs != sum)
        fail("sent %u bytes, checksum %016lx, but a-db's is %016lx", done, (unsigned long)sum,
             (unsigned long)theirs);
    say("vchan: sent %u bytes to a-db in %lu ms, checksum %016lx, a-db's %016lx: match", done,
        (unsigned long)ms, (unsigned long)sum, (unsigned long)theirs);
}

int main(const struct start_info *si)
{
    (void)si;
    domid_t db = (domid_t)cmdline_ulong("db", DOMID_INVALID);
    if (db == DOMID_INVALID)
        fail("usage: db=<domid>");
    actor_ctl_open();
    actor_wait_go();
    stream(db);
    actor_done();
    actor_wait_managed(); // customer A's manager destroys us when A leaves
}
