// SPDX-License-Identifier: MIT
// The privileged side of the permission scenario (tests/mac/test_perm.py): this controller is
// domain 1 and has the system label; domain 0 (mac_peer mode=noperm) has the unprivileged label
// red, so every privileged operation it tries is denied while the same operations by us succeed.
// Nothing depends on the domain id.
#include "common.h"

#include <public/event_channel.h>

void suite_perm(void)
{
    domid_t peer = (domid_t)cmdline_ulong("peer", 0);
    struct moat_domctl_info info;
    struct evtchn_status st;
    struct acm_getssid g;
    static uint8_t blob[8192];
    uint32_t len, dec;
    xtf_check(SELF != 0, "the controller should not be domain 0 here");
    xtf_check_eq(domctl_getinfo(peer, &info), 0);
    xtf_check_eq(info.ssidref, MAC_SSID_RED);
    xtf_check_eq(domctl_pause(peer), 0);
    xtf_check_eq(domctl_unpause(peer), 0);
    xtf_check_eq(ev_status(peer, 1, &st), 0);
    xtf_check_eq(acm_getssid_domain(peer, &g), 0);
    xtf_check_eq(g.ssidref, MAC_SSID_RED);
    xtf_check_eq(acm_getpolicy(blob, sizeof(blob), &len), 0);
    xtf_check_eq(acm_getdecision(MAC_SSID_RED, MAC_SSID_BLUE, ACM_HOOK_EVTCHN_BIND, &dec), 0);
    xtf_check_eq(dec, ACM_ACCESS_DENIED);
    (void)mac_stats();
    domid_t c = child(MAC_SSID_BLUE, "perm-ok-child", "mode=sleep");
    kill(c);
    printf("perm: the system label (domain %u) may do what domain 0 may not\n", SELF);
    /* Let the unprivileged domains finish before we end (they target us). */
    for (unsigned i = 0; i < 8; i++)
        if (i != SELF)
            wait_gone((domid_t)i);
}
