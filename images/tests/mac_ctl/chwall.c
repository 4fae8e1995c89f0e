// SPDX-License-Identifier: MIT
// The Chinese Wall at domain creation (acceptance items 11-15; tests/mac/test_chwall.py).
// alpha and beta are in one conflict set; free and gamma conflict with nothing. The boot part
// (a beta domain refused at boot while an alpha one runs) is in the scenario; the controller
// first waits for that alpha domain to end.
#include "common.h"

void suite_chwall(void)
{
    domid_t boot_alpha = (domid_t)cmdline_ulong("boot_alpha", DOMID_INVALID);
    if (!wait_gone(boot_alpha)) {
        xtf_error("Error: the boot-time alpha domain %u did not end\n", boot_alpha);
        return;
    }
    /* 11 and 12: beta may not start while alpha runs, and starts once it is gone. */
    domid_t a = child(BLOB_MAC_TEST_SSID_ALPHA, "alpha-1", "mode=sleep");
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_BETA, "beta-denied"), -XEN_EPERM);
    kill(a);
    domid_t b = child(BLOB_MAC_TEST_SSID_BETA, "beta-1", "mode=sleep");
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_ALPHA, "alpha-denied"), -XEN_EPERM);
    kill(b);
    printf("chwall: a competitor is refused while the other runs, and starts after\n");

    /* 13: three domains share alpha; the wall stays until the last one is gone. */
    domid_t as[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "alpha-%d", i + 2);
        as[i] = child(BLOB_MAC_TEST_SSID_ALPHA, name, "mode=sleep");
    }
    for (int i = 0; i < 3; i++) {
        xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_BETA, "beta-wait"), -XEN_EPERM);
        kill(as[i]);
    }
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_BETA, "beta-2"), 0);
    printf("chwall: counts right after partial destroys\n");

    /* 14: a type in no conflict set always starts, whoever runs. */
    a = child(BLOB_MAC_TEST_SSID_ALPHA, "alpha-5", "mode=sleep");
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_GAMMA, "gamma-1"), 0);
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_RED, "free-1"), 0);
    /* Relabelling into a competitor of a running domain is refused like a creation. */
    domid_t r = child(BLOB_MAC_TEST_SSID_RED, "relabel-me", "mode=sleep");
    xtf_check_eq(acm_relabel(r, BLOB_MAC_TEST_SSID_BETA, NULL), -XEN_EPERM);
    xtf_check_eq(acm_relabel(r, ACM_SSIDREF(11, 11), NULL), -XEN_EINVAL);
    xtf_check_eq(acm_relabel(DOMID_FIRST_RESERVED - 1, BLOB_MAC_TEST_SSID_RED, NULL), -XEN_ESRCH);
    kill(a);
    xtf_check_eq(acm_relabel(r, BLOB_MAC_TEST_SSID_BETA, NULL), 0);
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_ALPHA, "alpha-denied-2"), -XEN_EPERM); /* the relabelled one counts */
    /* The other direction too: into alpha while the relabelled beta runs (each type of the
     * conflict set is found, the first of the policy's types as well as the others). */
    domid_t r2 = child(BLOB_MAC_TEST_SSID_RED, "relabel-me-2", "mode=sleep");
    xtf_check_eq(acm_relabel(r2, BLOB_MAC_TEST_SSID_ALPHA, NULL), -XEN_EPERM);
    kill(r2);
    kill(r);
    printf("chwall: relabel obeys the wall\n");
    b = child(BLOB_MAC_TEST_SSID_BETA, "beta-3", "mode=sleep");
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_GAMMA, "gamma-2"), 0);
    kill(b);
    printf("chwall: unconflicted types always start\n");

    /* 15: an ssidref half beyond the policy's rows is refused at creation. */
    xtf_check_eq(try_create(ACM_SSIDREF(11, 1), "primary-oob"), -XEN_EPERM);
    xtf_check_eq(try_create(ACM_SSIDREF(1, 11), "secondary-oob"), -XEN_EPERM);
    xtf_check_eq(try_create(0xffffffffu, "both-oob"), -XEN_EPERM);
    xtf_check_eq(try_create(ACM_SSIDREF(10, 10), "last-row"), 0); /* zombie: the last row is fine */
    printf("chwall: ssidrefs out of range refused\n");

    /* getdecision agrees. */
    uint32_t dec = 99;
    xtf_check_eq(acm_getdecision(BLOB_MAC_TEST_SSID_ALPHA, BLOB_MAC_TEST_SSID_BETA, ACM_HOOK_DOMAIN_CREATE, &dec), 0);
    xtf_check_eq(dec, ACM_ACCESS_DENIED);
    xtf_check_eq(acm_getdecision(BLOB_MAC_TEST_SSID_ALPHA, BLOB_MAC_TEST_SSID_GAMMA, ACM_HOOK_DOMAIN_CREATE, &dec), 0);
    xtf_check_eq(dec, ACM_ACCESS_PERMITTED);
}
