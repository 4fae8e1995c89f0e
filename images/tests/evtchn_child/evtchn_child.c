// SPDX-License-Identifier: MIT
// A domain that evtchn_death's watcher creates with domctl:
//   role=bind parent=<domid>            allocates port 1 unbound for the parent, binds
//                                       VIRQ_TIMER, an IPI and a loopback port, answers the
//                                       parent's hello and waits to be destroyed or reset
//   role=probe parent=<domid> port=<p> port2=<q>
//                                       a new domain that reused a dead one's id: finds its
//                                       port table empty and cannot bind the parent's ports p
//                                       (was bound to the dead domain) and q (named it, unbound)
#include <moat/evtchn.h>
#include <moat/test.h>

static void role_bind(domid_t parent)
{
    xtf_check_eq(evtchn_alloc_unbound(parent), 1);
    xtf_check_eq(evtchn_bind_virq(VIRQ_TIMER, 0), 2);
    xtf_check_eq(evtchn_bind_ipi(0), 3);
    xtf_check_eq(evtchn_alloc_unbound(DOMID_SELF), 4);
    xtf_check_eq(evtchn_wait(1, 0), 0); // the parent's hello
    xtf_check_eq(evtchn_send(1), 0);
    // The parent destroys us or resets our ports; either way nothing more comes to port 1.
    for (;;)
        sched_block();
}

static void role_probe(domid_t parent, evtchn_port_t port, evtchn_port_t port2)
{
    for (evtchn_port_t p = 1; p < EVTCHN_DEFAULT_PORTS; p++) {
        struct evtchn_status st;
        long rc = evtchn_status(DOMID_SELF, p, &st);
        if (rc != 0 || st.status != EVTCHNSTAT_closed) {
            xtf_failure("Fail: a new domain's port %u: rc %ld status %u\n", p, rc, st.status);
            return;
        }
    }
    xtf_check_eq(evtchn_bind_interdomain(parent, port), -XEN_EINVAL);
    xtf_check_eq(evtchn_bind_interdomain(parent, port2), -XEN_EINVAL);
    xtf_check_eq(evtchn_alloc_unbound(parent), 1);
}

void test_main(void)
{
    char role[8] = "";
    cmdline_get("role", role, sizeof(role));
    domid_t parent = (domid_t)cmdline_ulong("parent", 0);
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    if (strcmp(role, "bind") == 0)
        role_bind(parent);
    else if (strcmp(role, "probe") == 0)
        role_probe(parent, (evtchn_port_t)cmdline_ulong("port", 0), (evtchn_port_t)cmdline_ulong("port2", 0));
    else
        xtf_error("Error: role=bind|probe, not '%s'\n", role);
    xtf_success(NULL);
}
