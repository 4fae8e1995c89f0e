// SPDX-License-Identifier: MIT
// Demo: a-db, customer A's database. Two steps, each started by the system domain's go:
//  1. vchan server for a-web: receives the stream, checks every byte, sends back its checksum;
//  2. heartbeats with the backup service (a-db binds backup's DEMO_HB_PORT), then waits on that
//     channel until the policy update revokes it, and shows what it sees then.
// Then it runs until customer A's management domain destroys it (customer A leaving).
//   web=<domid> backup=<domid>
#include <moat/gnttab.h>
#include <moat/vchan.h>

#include "../common/demo.h"
#include "../vchan_server/vchan_demo.h"

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t ring[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t got[4096];

static void serve_vchan(domid_t web)
{
    if (gnttab_setup(table, 1, 1) != GNTST_okay)
        fail("grant table setup");
    static struct vchan v;
    // a-web streams to us: our read ring (left) gets the 2 KiB half.
    if (vchan_server_init(&v, ring, web, VCHAN_DEFAULT_REF, 11, 10) != 0)
        fail("vchan_server_init");
    if (vchan_server_wait(&v, DEMO_WAIT_NS) != 0)
        fail("a-web did not connect");
    uint64_t sum = FNV_OFFSET, state = DEMO_SEED;
    uint32_t done = 0;
    while (done < DEMO_VCHAN_BYTES) {
        uint32_t n = DEMO_VCHAN_BYTES - done < sizeof(got) ? DEMO_VCHAN_BYTES - done : (uint32_t)sizeof(got);
        int rc = vchan_recv(&v, got, n);
        if (rc != 0)
            fail("vchan recv at byte %u: %d", done, rc);
        if (!stream_matches(&state, got, n))
            fail("bytes %u..%u differ from the stream", done, done + n);
        sum = fnv1a(sum, got, n);
        done += n;
    }
    say("vchan: received %u bytes from a-web, all as expected, checksum %016lx", done, (unsigned long)sum);
    if (vchan_send(&v, &sum, sizeof(sum)) != 0)
        fail("sending the checksum back");
    if (vchan_close(&v, DEMO_WAIT_NS) != 0)
        fail("a-web never unmapped the ring");
}

// The heartbeat channel is live while our port is bound to backup; when the policy revokes it,
// the hypervisor leaves our port unbound to no one (DOMID_INVALID) and pending.
static evtchn_port_t heartbeats(domid_t backup)
{
    long port = evtchn_connect(backup, DEMO_HB_PORT, now_ns() + DEMO_WAIT_NS);
    if (port < 0)
        fail("binding backup's heartbeat port: %ld", port);
    evtchn_port_clear((evtchn_port_t)port); // a new binding starts pending; that is not an ack
    for (unsigned i = 1; i <= DEMO_HEARTBEATS; i++) {
        if (evtchn_send((evtchn_port_t)port) != 0)
            fail("heartbeat %u", i);
        if (!demo_wait((evtchn_port_t)port, now_ns() + DEMO_WAIT_NS))
            fail("backup never acknowledged heartbeat %u", i);
        evtchn_port_clear((evtchn_port_t)port);
        if (!demo_port_bound((evtchn_port_t)port))
            fail("the heartbeat channel closed after heartbeat %u", i);
        say("heartbeat %u acknowledged by backup", i);
    }
    say("backup contract live: event channel port %ld <-> backup port %d", port, DEMO_HB_PORT);
    return (evtchn_port_t)port;
}

static void notice_revocation(evtchn_port_t port)
{
    if (!demo_wait(port, now_ns() + DEMO_WAIT_NS))
        fail("the heartbeat channel was never taken away");
    struct evtchn_status st;
    long rc = evtchn_status(DOMID_SELF, port, &st);
    if (rc != 0 || st.status != EVTCHNSTAT_unbound || st.u.unbound.dom != DOMID_INVALID)
        fail("woken, but port %u is still %u (rc %ld)", port, st.status, rc);
    say("noticed: port %u is pending and now unbound, remote 0x%x (DOMID_INVALID): the channel to "
        "backup was revoked", port, st.u.unbound.dom);
    evtchn_port_clear(port);
    evtchn_close(port);
}

int main(const struct start_info *si)
{
    (void)si;
    domid_t web = (domid_t)cmdline_ulong("web", DOMID_INVALID);
    domid_t backup = (domid_t)cmdline_ulong("backup", DOMID_INVALID);
    if (web == DOMID_INVALID || backup == DOMID_INVALID)
        fail("usage: web=<domid> backup=<domid>");
    actor_ctl_open();
    actor_wait_go();
    serve_vchan(web);
    actor_done();
    actor_wait_go();
    evtchn_port_t port = heartbeats(backup);
    actor_done();
    notice_revocation(port);
    actor_done();
    actor_wait_managed(); // customer A's manager destroys us when A leaves
}
