// SPDX-License-Identifier: MIT
// The MAC test controller's entry: suite=ste|chwall|policy|perm|scale|rows|relabel|errors|malformed|logfull|sweep (tests/mac/).
#include "common.h"

/* Children that sleep until destroyed would keep the machine running: take them all down. */
static void reap(void)
{
    struct moat_domctl_info info;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++)
        if (i != SELF && domctl_getinfo((domid_t)i, &info) == 0)
            kill((domid_t)i);
}

void test_main(void)
{
    char suite[16];
    if (!cmdline_get("suite", suite, sizeof(suite))) {
        xtf_error("Error: no suite= on the command line\n");
        return;
    }
    /* Every suite relies on running as the boot policy's system label. */
    if (start_info->ssidref != BLOB_MAC_TEST_SSID_SYSTEM) {
        xtf_error("Error: the controller runs with ssidref %#x, not system\n", start_info->ssidref);
        return;
    }
    if (!strcmp(suite, "ste"))
        suite_ste();
    else if (!strcmp(suite, "chwall"))
        suite_chwall();
    else if (!strcmp(suite, "policy"))
        suite_policy();
    else if (!strcmp(suite, "perm"))
        suite_perm();
    else if (!strcmp(suite, "scale"))
        suite_scale();
    else if (!strcmp(suite, "rows"))
        suite_rows();
    else if (!strcmp(suite, "relabel"))
        suite_relabel();
    else if (!strcmp(suite, "errors"))
        suite_errors();
    else if (!strcmp(suite, "malformed"))
        suite_malformed();
    else if (!strcmp(suite, "logfull"))
        suite_logfull();
    else if (!strcmp(suite, "sweep"))
        suite_sweep();
    else
        xtf_error("Error: unknown suite '%s'\n", suite);
    reap();
    if (xtf_result() <= XTF_SUCCESS)
        xtf_success("suite %s passed\n", suite);
}
