// SPDX-License-Identifier: MIT
// The smallest test guest: says hello, shows what it was given, reports success.
//   skip=1        reports SKIP instead (a boot whose worst result is SKIP still stops with success)
//   end=reboot    ends with SHUTDOWN_reboot instead of poweroff (an expected end too)
#include <moat/test.h>

void test_main(void)
{
    printf("hello from domain %u '%s', %lu pages, cmdline '%s'\n", start_info->domid,
           start_info->name, (unsigned long)start_info->nr_pages, start_info->cmd_line);
    if (cmdline_ulong("skip", 0)) {
        xtf_skip("skipped on request");
        return;
    }
    xtf_success(NULL);
    char end[16] = "";
    if (cmdline_get("end", end, sizeof(end)) && strcmp(end, "reboot") == 0) {
        /* What xtf_exit does, but the shutdown says reboot. */
        console_flush();
        printf("Test result: SUCCESS\n");
        console_flush();
        sched_shutdown(SHUTDOWN_reboot);
    }
}
