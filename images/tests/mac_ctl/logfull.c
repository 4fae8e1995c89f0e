// SPDX-License-Identifier: MIT
// A full measurement log (tests/mac/test_logfull.py): the hypervisor measures every policy load,
// relabel and domain creation before it takes effect, and refuses what it can no longer measure
// (-ENOSPC) rather than go on unmeasured. The controller fills the 64 KiB event log by loading
// the live policy again and again (then relabelling a child, a smaller record), then checks that
// a new policy, a relabel and a creation are each refused and change nothing.
#include "common.h"

#define MAX_LOADS 5000 /* far more than the log holds; a bound in case nothing is ever refused */

void suite_logfull(void)
{
    domid_t red = child(BLOB_MAC_TEST_SSID_RED, "full-red", "mode=sleep");
    struct acm_setpolicy sp;
    unsigned loads = 0;
    long rc = 0;
    while (loads < MAX_LOADS &&
           (rc = acm_setpolicy(blob_mac_test, sizeof(blob_mac_test), ACM_MODE_REFUSE, NULL, 0, &sp)) == 0)
        loads++;
    printf("logfull: %u loads, then rc=%ld\n", loads, rc);
    xtf_check_eq(rc, -XEN_ENOSPC);
    xtf_check(loads > 100 && loads < MAX_LOADS, "%u loads before the log was full", loads);

    /* A relabel's record is smaller: relabels fill what is left, red and green in turn. */
    unsigned relabels = 0;
    uint32_t label = BLOB_MAC_TEST_SSID_RED;
    while (relabels < MAX_LOADS) {
        uint32_t next = label == BLOB_MAC_TEST_SSID_RED ? BLOB_MAC_TEST_SSID_GREEN : BLOB_MAC_TEST_SSID_RED;
        if ((rc = acm_relabel(red, next, NULL)) != 0)
            break;
        label = next;
        relabels++;
    }
    printf("logfull: then %u relabels, then rc=%ld\n", relabels, rc);
    xtf_check_eq(rc, -XEN_ENOSPC);

    /* A different policy: refused, the live one stays. */
    xtf_check_eq(acm_setpolicy(blob_mac_test_split, sizeof(blob_mac_test_split), ACM_MODE_REVOKE, NULL, 0, &sp),
                 -XEN_ENOSPC);
    static uint8_t live[8192];
    uint32_t len = 0;
    xtf_check_eq(acm_getpolicy(live, sizeof(live), &len), 0);
    xtf_check(len == sizeof(blob_mac_test) && !memcmp(live, blob_mac_test, len), "the live policy changed");

    /* The refused relabel left the label, and the Chinese Wall accounting, as they were. */
    struct acm_getssid g;
    xtf_check_eq(acm_getssid_domain(red, &g), 0);
    xtf_check_eq(g.ssidref, label);

    /* A creation: refused, and its id is not taken. */
    domid_t d = DOMID_INVALID;
    xtf_check_eq(child_try(BLOB_MAC_TEST_SSID_RED, "full-new", "mode=sleep", &d), -XEN_ENOSPC);
    struct moat_domctl_info info;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++)
        if (i != SELF && i != red)
            xtf_check(domctl_getinfo((domid_t)i, &info) == -XEN_ESRCH, "domain %u exists", i);
    kill(red);
    wait_gone(red);
    printf("logfull: policy, relabel and creation refused unmeasured, nothing changed\n");
}
