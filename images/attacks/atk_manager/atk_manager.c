// SPDX-License-Identifier: MIT
// Per-target permissions (issue 10 item 6): a management domain whose permissions all name the
// label red (destroy, pause, read_state, foreign event channels and grant tables) must be able
// to manage red domains and nothing else: not blue domains, not the system domain. Modes:
//   manager red=<domid> blue=<domid> system=<domid>
//   victim                 sleep until destroyed
//   passer                 live 100 ms of system time, then power off (a death to overhear)
#include <moat/gnttab.h>

#include "../common/attack.h"

static int16_t foreign_setup(domid_t d)
{
    uint64_t pfn = 0;
    struct gnttab_setup_table s = {.dom = d, .nr_frames = 1, .frame_list = (uint64_t)(uintptr_t)&pfn};
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &s, 1);
    return rc ? (int16_t)rc : s.status;
}

static void manager(void)
{
    domid_t red = (domid_t)cmdline_ulong("red", DOMID_INVALID), blue = (domid_t)cmdline_ulong("blue", DOMID_INVALID),
            sys = (domid_t)cmdline_ulong("system", DOMID_INVALID);
    struct moat_domctl_info info;
    /* A death of a blue domain must not reach us; a red one's must. */
    long virq = evtchn_bind_virq(VIRQ_DOM_EXC, 0);
    evtchn_port_t port = virq > 0 ? (evtchn_port_t)virq : 0;

    expect_rc("manager-pause-other", domctl_pause(blue), -XEN_EPERM);
    expect_rc("manager-unpause-other", domctl_unpause(blue), -XEN_EPERM);
    expect_rc("manager-destroy-other", domctl_destroy(blue), -XEN_EPERM);
    expect_rc("manager-destroy-system", domctl_destroy(sys), -XEN_EPERM);
    expect_rc("manager-read-other", domctl_getinfo(blue, &info), -XEN_EPERM);
    expect_rc("manager-evtchn-other", evtchn_alloc_unbound_in(blue, DOMID_SELF), -XEN_EPERM);
    expect_rc("manager-reset-other", evtchn_reset(blue), -XEN_EPERM);
    expect_rc("manager-gnttab-other", foreign_setup(blue), GNTST_permission_denied);

    /* Its own label's domains: every permission works (so the refusals above are about the
     * target, not a manager that can do nothing). */
    long ev = evtchn_alloc_unbound_in(red, DOMID_SELF);
    bool own = domctl_pause(red) == 0 && domctl_getinfo(red, &info) == 0 && info.state == DOMSTATE_PAUSED &&
               domctl_unpause(red) == 0 && ev > 0 && evtchn_reset(red) == 0;
    verdict("manager-own-label-only", own && port, "managing its own red domain failed (virq %ld, alloc %ld)", virq,
            ev);

    /* The passer (blue) powers off after 100 ms: nothing may be delivered to us. */
    sleep_ns(400 * NS_PER_MS);
    verdict("manager-watch-other", port && !evtchn_port_pending(port), "the death of a blue domain was delivered");
    long rc = domctl_destroy(red);
    verdict("manager-watch-own", rc == 0 && port && evtchn_port_pending(port),
            "destroying its red domain: %ld, death delivered: %d", rc, port && evtchn_port_pending(port));
}

static void passer(void) { sleep_ns(100 * NS_PER_MS); }

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {
        {"manager", manager},
        {"victim", attack_sleep_forever},
        {"passer", passer},
    };
    return attack_main(modes, ARRAY_SIZE(modes));
}
