// SPDX-License-Identifier: MIT
// A privilege must not outlive the label that granted it (issue 10, breach 3). A watcher binds
// VIRQ_DOM_EXC (which needs read_state), then loses read_state: by relabelling, or by a policy
// update. Another domain then dies: the watcher must not hear of it, and its binding must have
// been revoked the way a channel is (unbound to no one). Modes (cmdline mode=):
//   watcher admin=<domid> name=<attack>     bind, let the admin act, then look
//   admin watcher=<domid> victim=<domid> how=relabel|policy
//   victim                                  sleep until destroyed
#include <moat/acm.h>

#include "../common/attack.h"
#include "embedded_policies.h"

static void watcher(void)
{
    char name[32] = "stale-virq";
    cmdline_get("name", name, sizeof(name));
    domid_t admin = (domid_t)cmdline_ulong("admin", DOMID_INVALID);
    long virq = evtchn_bind_virq(VIRQ_DOM_EXC, 0);
    long ctl = evtchn_alloc_unbound(admin);
    if (virq < 0 || ctl < 0) {
        verdict(name, false, "set-up: bind VIRQ_DOM_EXC %ld, control port %ld", virq, ctl);
        return;
    }
    /* The admin binds our control port (its own end starts pending, ours does not), relabels us
     * or loads the update, destroys the victim and then says go. */
    if (evtchn_wait((evtchn_port_t)ctl, now_ns() + ATTACK_WAIT_NS) != 0) {
        verdict(name, false, "set-up: the admin never said go");
        return;
    }
    struct evtchn_status st;
    long rc = evtchn_status(DOMID_SELF, (evtchn_port_t)virq, &st);
    bool pending = evtchn_port_pending((evtchn_port_t)virq);
    if (rc == 0 && st.status == EVTCHNSTAT_virq)
        verdict(name, false, "VIRQ_DOM_EXC is still bound without read_state%s",
                pending ? ", and another domain's death was delivered" : "");
    else
        verdict(name, rc == 0 && st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == DOMID_INVALID && pending,
                "port %ld after the revocation: rc %ld status %u remote %#x pending %d", virq, rc, st.status,
                st.u.unbound.dom, pending);
    char again[48];
    snprintf(again, sizeof(again), "%s-rebind", name);
    expect_rc(again, evtchn_bind_virq(VIRQ_DOM_EXC, 0), -XEN_EPERM);
}

static void admin(void)
{
    domid_t w = (domid_t)cmdline_ulong("watcher", DOMID_INVALID), v = (domid_t)cmdline_ulong("victim", DOMID_INVALID);
    char how[16] = "";
    cmdline_get("how", how, sizeof(how));
    long port = evtchn_connect(w, 2, now_ns() + ATTACK_WAIT_NS); /* after its VIRQ port, 1 */
    if (port < 0) {
        printf("admin: control channel to %u: %ld\n", w, port);
        return;
    }
    long rc;
    if (!strcmp(how, "relabel")) {
        rc = acm_relabel(w, ATTACK_POLICY_SSID_BLIND, NULL);
    } else {
        struct acm_setpolicy out;
        rc = acm_setpolicy(attack_update, (uint32_t)attack_update_size, ACM_MODE_REVOKE, NULL, 0, &out);
    }
    if (rc != 0)
        printf("admin: taking read_state away (%s): %ld\n", how, rc);
    rc = domctl_destroy(v);
    if (rc != 0)
        printf("admin: destroying the victim: %ld\n", rc);
    evtchn_send((evtchn_port_t)port);
    attack_wait_gone(w, now_ns() + ATTACK_WAIT_NS);
}

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {
        {"watcher", watcher},
        {"admin", admin},
        {"victim", attack_sleep_forever},
    };
    return attack_main(modes, ARRAY_SIZE(modes));
}
