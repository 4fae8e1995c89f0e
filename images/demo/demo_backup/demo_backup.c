// SPDX-License-Identifier: MIT
// Demo: backup, a service domain (label `service`) that customer A has a contract with. It offers
// a-db a heartbeat channel (its port DEMO_HB_PORT, allocated for a-db: allowed, since service and
// customer-a share the customer-a type), acknowledges DEMO_HEARTBEATS heartbeats, tells the
// system domain the contract is live, then keeps listening until the policy update that ends the
// contract revokes the channel, and shows what it sees then.
//   db=<domid>   a-db
#include "../common/demo.h"

int main(const struct start_info *si)
{
    (void)si;
    domid_t db = (domid_t)cmdline_ulong("db", DOMID_INVALID);
    if (db == DOMID_INVALID)
        fail("usage: db=<domid>");
    actor_ctl_open();
    long port = evtchn_alloc_unbound(db);
    if (port != DEMO_HB_PORT)
        fail("heartbeat port for a-db: got %ld, expected %d", port, DEMO_HB_PORT);
    say("offering a-db a heartbeat channel on port %ld", port);
    for (unsigned i = 1; i <= DEMO_HEARTBEATS; i++) {
        if (!demo_wait(DEMO_HB_PORT, now_ns() + DEMO_WAIT_NS))
            fail("no heartbeat %u from a-db", i);
        evtchn_port_clear(DEMO_HB_PORT);
        if (!demo_port_bound(DEMO_HB_PORT))
            fail("the heartbeat channel closed before heartbeat %u", i);
        say("heartbeat %u from a-db", i);
        if (evtchn_send(DEMO_HB_PORT) != 0)
            fail("acknowledging heartbeat %u", i);
    }
    actor_done();

    if (!demo_wait(DEMO_HB_PORT, now_ns() + DEMO_WAIT_NS))
        fail("the heartbeat channel was never taken away");
    struct evtchn_status st;
    long rc = evtchn_status(DOMID_SELF, DEMO_HB_PORT, &st);
    if (rc != 0 || st.status != EVTCHNSTAT_unbound || st.u.unbound.dom != DOMID_INVALID)
        fail("woken, but port %d is still %u (rc %ld)", DEMO_HB_PORT, st.status, rc);
    say("noticed: port %d is pending and now unbound, remote 0x%x (DOMID_INVALID): the contract "
        "with customer A is over", DEMO_HB_PORT, st.u.unbound.dom);
    evtchn_port_clear(DEMO_HB_PORT);
    evtchn_close(DEMO_HB_PORT);
    actor_done();
    actor_wait_go(); // the service stays until the system domain lets it go
    say("leaving");
    return 0;
}
