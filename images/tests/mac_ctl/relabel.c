// SPDX-License-Identifier: MIT
// A relabel moves a domain's Chinese Wall types with it (tests/mac/test_relabel.py): the old
// label's types stop counting as running the moment the label changes, so a competitor of the
// old label may start at once, and one of the new label may not; the relabelled domain's end
// releases only what it holds then. alpha and beta compete; red and gamma compete with nobody.
#include "common.h"

void suite_relabel(void)
{
    /* alpha -> red: alpha no longer runs, so beta may start. */
    domid_t r = child(BLOB_MAC_TEST_SSID_ALPHA, "was-alpha", "mode=sleep");
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_BETA, "beta-while-alpha"), -XEN_EPERM);
    xtf_check_eq(acm_relabel(r, BLOB_MAC_TEST_SSID_RED, NULL), 0);
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_BETA, "beta-after-relabel"), 0);
    printf("relabel: the old label's Chinese Wall types are released\n");

    /* red -> beta -> gamma: beta counts while held, and not after. */
    xtf_check_eq(acm_relabel(r, BLOB_MAC_TEST_SSID_BETA, NULL), 0);
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_ALPHA, "alpha-while-beta"), -XEN_EPERM);
    xtf_check_eq(acm_relabel(r, BLOB_MAC_TEST_SSID_GAMMA, NULL), 0);
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_ALPHA, "alpha-after-relabel"), 0);
    printf("relabel: the new label's types count until the next relabel\n");

    /* Refused relabels (into a competitor of a running domain) change nothing. */
    domid_t a = child(BLOB_MAC_TEST_SSID_ALPHA, "alpha-runs", "mode=sleep");
    xtf_check_eq(acm_relabel(r, BLOB_MAC_TEST_SSID_BETA, NULL), -XEN_EPERM);
    kill(a);
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_BETA, "beta-after-refusal"), 0);

    /* The relabelled domain's end releases gamma (what it holds), and its first label stays free. */
    kill(r);
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_BETA, "beta-at-end"), 0);
    xtf_check_eq(try_create(BLOB_MAC_TEST_SSID_ALPHA, "alpha-at-end"), 0);
    printf("relabel: a refused relabel and the domain's end leave the counts right\n");
}
