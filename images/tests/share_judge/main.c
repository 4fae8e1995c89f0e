// SPDX-License-Identifier: MIT
// The judge of the proportional-share tests (tests/resource/test_shares.py): reads the CPU time
// of every other domain, sleeps ms= (default 1000) milliseconds while they run, reads it again,
// destroys them and prints `share: <name> cpu_ns=<used meanwhile> elapsed_ns=<the sleep>`.
#include <moat/test.h>

static uint64_t before[MOAT_MAX_DOMAINS];

void test_main(void)
{
    uint64_t ms = cmdline_ulong("ms", 1000);
    struct moat_domctl_info info;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++)
        if (i != start_info->domid && domctl_getinfo((domid_t)i, &info) == 0)
            before[i] = info.cpu_time_ns;
    uint64_t t0 = now_ns();
    sleep_ns(ms * NS_PER_MS);
    uint64_t elapsed = now_ns() - t0;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++) {
        if (i == start_info->domid || domctl_getinfo((domid_t)i, &info) != 0)
            continue;
        xtf_check_eq(domctl_destroy((domid_t)i), 0);
        printf("share: %s cpu_ns=%lu elapsed_ns=%lu\n", info.name, (unsigned long)(info.cpu_time_ns - before[i]),
               (unsigned long)elapsed);
    }
    xtf_success(NULL);
}
