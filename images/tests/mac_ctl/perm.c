// SPDX-License-Identifier: MIT
// The privileged side of the permission scenario (tests/mac/test_perm.py): this controller is
// domain 1 and has the system label; domain 0 (mac_peer mode=noperm) has the unprivileged label
// red, so every privileged operation it tries is denied while the same operations by us (on a red
// domain we create) succeed.
// Nothing depends on the domain id.
#include "common.h"

#include <public/event_channel.h>

void suite_perm(void)
{
    /*
     * The target is a red domain of our own making: domain 0 (also red) runs its own checks and
     * may already be gone, and which of us runs first is the scheduler's business.
     */
    domid_t peer = child(BLOB_MAC_TEST_SSID_RED, "perm-target", "mode=sleep");
    struct moat_domctl_info info;
    struct evtchn_status st;
    struct acm_getssid g;
    static uint8_t blob[8192];
    uint32_t len, dec;
    xtf_check(SELF != 0, "the controller should not be domain 0 here");
    xtf_check_eq(domctl_getinfo(peer, &info), 0);
    xtf_check_eq(info.ssidref, BLOB_MAC_TEST_SSID_RED);
    xtf_check_eq(domctl_pause(peer), 0);
    xtf_check_eq(domctl_unpause(peer), 0);
    xtf_check_eq(ev_status(peer, 1, &st), 0);
    xtf_check_eq(acm_getssid_domain(peer, &g), 0);
    xtf_check_eq(g.ssidref, BLOB_MAC_TEST_SSID_RED);
    xtf_check_eq(acm_getpolicy(blob, sizeof(blob), &len), 0);
    xtf_check_eq(acm_getdecision(BLOB_MAC_TEST_SSID_RED, BLOB_MAC_TEST_SSID_BLUE, ACM_HOOK_EVTCHN_BIND, &dec), 0);
    xtf_check_eq(dec, ACM_ACCESS_DENIED);
    (void)mac_stats();
    domid_t c = child(BLOB_MAC_TEST_SSID_BLUE, "perm-ok-child", "mode=sleep");
    kill(c);
    kill(peer);
    printf("perm: the system label (domain %u) may do what domain 0 may not\n", SELF);
    /*
     * Let the unprivileged domains finish before we end (they target us), and the child that
     * `limited` creates: it may take an id this loop has already passed, so a second pass.
     */
    for (unsigned pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++)
            if (i != SELF)
                wait_gone((domid_t)i);
}
