// SPDX-License-Identifier: MIT
// Demo: b-app, customer B's application. When the system domain says go, it asks for an event
// channel to a-db, a domain of customer A. B and A share no STE type, so the hypervisor must
// refuse with -EACCES (and print its `MAC deny hook=evtchn_unbound` line); b-app says what it got,
// then, told go again, spins until the next go (its cap, `cap = 20` in images/demo/demo.toml, holds
// it to 20 % of a CPU while the system domain measures), then stays until customer B's management
// domain winds B down.
//   target=<domid>   a-db
#include "../common/demo.h"

int main(const struct start_info *si)
{
    (void)si;
    domid_t target = (domid_t)cmdline_ulong("target", DOMID_INVALID);
    if (target == DOMID_INVALID)
        fail("usage: target=<domid>");
    actor_ctl_open();
    actor_wait_go();
    say("asking for an event channel to a-db (domain %u, customer A)", target);
    long rc = evtchn_alloc_unbound(target);
    if (rc >= 0)
        fail("got port %ld: customer B can reach customer A", rc);
    if (rc != -XEN_EACCES)
        fail("refused with %ld, not -EACCES", rc);
    say("refused with -EACCES (%ld), as the policy intends: customers A and B share no type", rc);
    actor_done();
    actor_wait_go();
    say("spinning: my cap says 20 %% of a CPU");
    while (!evtchn_port_pending(DEMO_CTL_PORT))
        __asm__ volatile("pause");
    evtchn_port_clear(DEMO_CTL_PORT);
    actor_done();
    actor_wait_managed(); // customer B stays beside A until its manager winds it down
}
