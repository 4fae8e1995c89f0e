// SPDX-License-Identifier: MIT
// Domain ids are reused (the lowest free one): nothing about a dead domain may carry over to the
// next one with its id. The keeper (label keeper: shares only red; may create, watch and end red
// and blue children) offers a port to a red child and lets a positive decision about it be
// cached; the child dies; then
//   - the port must no longer name that id, and a new red child with the same id cannot bind it;
//   - a blue child with the same id must be refused what the red one was allowed (the decision
//     cache is keyed by id and incarnation).
// Modes: keeper   |   sleep   |   bind sup=<domid> port=<port> (prints its own verdict)
#include "../common/attack.h"
#include "embedded_policies.h"

static long child(uint32_t ssidref, const char *cmdline, domid_t *id)
{
    int img = find_image("atk_reuse");
    struct domctl_create_args a = {.image = img < 0 ? 0u : (uint32_t)img, .memory_kib = 128, .ssidref = ssidref,
                                   .name = "reuse-child", .cmdline = cmdline};
    return domctl_create(&a, id);
}

/* Waits until the child is gone. The keeper may read the state of red and blue domains only, so
 * an id with no domain behind it answers -EACCES, not -ESRCH (the hypervisor does not tell it
 * which ids are free; attack_wait_gone would wait out its whole deadline): while the child lives
 * getinfo succeeds, and any refusal means it is gone. A child still alive when the next one is
 * created shows as a different id, which the verdicts below report as a broken set-up. */
static bool wait_child_gone(domid_t domid, uint64_t deadline_ns)
{
    struct moat_domctl_info info;
    while (domctl_getinfo(domid, &info) == 0) {
        if (now_ns() >= deadline_ns)
            return false;
        sleep_ns(NS_PER_MS);
    }
    return true;
}

static void keeper(void)
{
    domid_t c1, c2, c3;
    long rc = child(ATTACK_POLICY_SSID_RED, "mode=sleep", &c1);
    long port = rc == 0 ? evtchn_alloc_unbound(c1) : rc;
    if (rc != 0 || port < 0) {
        verdict("evtchn-port-of-a-dead-id", false, "set-up: child %ld, port %ld", rc, port);
        return;
    }
    domctl_destroy(c1);
    struct evtchn_status st;
    rc = evtchn_status(DOMID_SELF, (evtchn_port_t)port, &st);
    verdict("evtchn-port-of-a-dead-id", rc == 0 && st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == DOMID_INVALID,
            "port %ld after its peer's death: status %u remote %#x", port, st.status, st.u.unbound.dom);

    char cmdline[64];
    snprintf(cmdline, sizeof(cmdline), "mode=bind sup=%u port=%ld", start_info->domid, port);
    rc = child(ATTACK_POLICY_SSID_RED, cmdline, &c2);
    if (rc != 0 || c2 != c1) {
        printf("ATTACK evtchn-id-reuse: BROKEN set-up: the next child is %u (%ld), not %u\n", c2, rc, c1);
        return;
    }
    long a2 = evtchn_alloc_unbound(c2); /* a positive decision about the red domain with this id */
    wait_child_gone(c2, now_ns() + ATTACK_WAIT_NS);
    if (a2 > 0)
        evtchn_close((evtchn_port_t)a2);

    rc = child(ATTACK_POLICY_SSID_BLUE, "mode=sleep", &c3);
    if (rc != 0 || c3 != c1) {
        verdict("cache-id-reuse", false, "set-up: the blue child is %u (%ld), not %u", c3, rc, c1);
        return;
    }
    long a3 = evtchn_alloc_unbound(c3);
    verdict("cache-id-reuse", a2 > 0 && a3 == -XEN_EACCES,
            "red domain %u: %ld; blue domain %u with the same id: %ld (a cached decision leaked)", c1, a2, c3, a3);
    domctl_destroy(c3);
}

/* The port was offered to the dead domain that had our id: it must not be ours. */
static void bind_reused(void)
{
    domid_t sup = (domid_t)cmdline_ulong("sup", DOMID_INVALID);
    long rc = evtchn_bind_interdomain(sup, (evtchn_port_t)cmdline_ulong("port", 0));
    expect_rc("evtchn-id-reuse", rc, -XEN_EINVAL);
    /* Alive a while longer: the keeper, on another CPU, offers this domain a port next (a positive
     * decision to cache); had it already gone, the keeper would be told -EACCES (absent). */
    sleep_ns(50 * NS_PER_MS);
}

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {
        {"keeper", keeper},
        {"sleep", attack_sleep_forever},
        {"bind", bind_reused},
    };
    return attack_main(modes, ARRAY_SIZE(modes));
}
