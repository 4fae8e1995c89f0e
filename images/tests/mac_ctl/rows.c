// SPDX-License-Identifier: MIT
// ssidrefs one row past the policy's last (tests/mac/test_rows.py): a label names a Chinese Wall
// row (primary, low half) and an STE row (secondary); one beyond either table is no label at all.
// Refused at boot (the scenario's boot-row-* domains), by relabel, by getdecision and at creation,
// while the last real row still works. The last row of mac-test.toml is `zombie`.
#include "common.h"

#define LAST_ROW ACM_SSIDREF_PRIMARY(BLOB_MAC_TEST_SSID_ZOMBIE)

static uint32_t label_of(domid_t d)
{
    struct acm_getssid g;
    memset(&g, 0, sizeof(g));
    xtf_check_eq(acm_getssid_domain(d, &g), 0);
    return g.ssidref;
}

static void refused_everywhere(uint32_t past, domid_t victim, uint32_t victim_label)
{
    long rc = acm_relabel(victim, past, NULL);
    xtf_check(rc < 0, "relabel to %#x: %ld, not refused", past, rc);
    xtf_check(label_of(victim) == victim_label, "relabel to %#x changed the label to %#x", past, label_of(victim));
    uint32_t dec = 99;
    rc = acm_getdecision(past, BLOB_MAC_TEST_SSID_RED, ACM_HOOK_DOMAIN_CREATE, &dec);
    xtf_check(rc < 0, "getdecision(%#x, red): %ld, decision %u", past, rc, dec);
    rc = acm_getdecision(BLOB_MAC_TEST_SSID_RED, past, ACM_HOOK_EVTCHN_BIND, &dec);
    xtf_check(rc < 0, "getdecision(red, %#x): %ld, decision %u", past, rc, dec);
    domid_t d;
    rc = child_try(past, "row-past", "mode=sleep", &d);
    xtf_check(rc < 0, "create with %#x: %ld", past, rc);
    if (rc == 0)
        kill(d);
}

void suite_rows(void)
{
    /* The boot-time domain of the last row ends by itself; wait, so it is not reaped early. */
    domid_t boot_last = (domid_t)cmdline_ulong("boot_last", DOMID_INVALID);
    if (!wait_gone(boot_last)) {
        xtf_error("Error: the boot-time last-row domain %u did not end\n", boot_last);
        return;
    }
    domid_t v = child(BLOB_MAC_TEST_SSID_RED, "victim", "mode=sleep");
    /* The Chinese Wall row one past the last, with a real STE row, and the other way round. */
    refused_everywhere(ACM_SSIDREF(LAST_ROW + 1, 1), v, BLOB_MAC_TEST_SSID_RED);
    refused_everywhere(ACM_SSIDREF(1, LAST_ROW + 1), v, BLOB_MAC_TEST_SSID_RED);
    printf("rows: one past the last row refused\n");
    /* The last real row is a label like any other. */
    uint32_t last = ACM_SSIDREF(LAST_ROW, LAST_ROW);
    xtf_check_eq(acm_relabel(v, last, NULL), 0);
    xtf_check_eq(label_of(v), last);
    uint32_t dec = 99;
    xtf_check_eq(acm_getdecision(last, BLOB_MAC_TEST_SSID_RED, ACM_HOOK_DOMAIN_CREATE, &dec), 0);
    xtf_check_eq(dec, ACM_ACCESS_PERMITTED);
    kill(v);
    printf("rows: the last row works\n");
}
