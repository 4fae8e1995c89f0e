// SPDX-License-Identifier: MIT
// Prints `tick <i>` lines so a scenario can see several domains take turns.
//   ticks=N      how many lines (default 10)
//   mode=yield   SCHEDOP_yield after each line (default): cooperative interleaving
//   mode=busy    spin for busy_us microseconds of system time after each line, never yielding:
//                the lines of two such domains interleave only if the scheduler preempts
//   mode=sleep   set_timer_op + SCHEDOP_block for busy_us after each line
#include <moat/test.h>

void test_main(void)
{
    unsigned long ticks = cmdline_ulong("ticks", 10);
    unsigned long busy_us = cmdline_ulong("busy_us", 2000);
    char mode[16] = "yield";

    cmdline_get("mode", mode, sizeof(mode));
    for (unsigned long i = 0; i < ticks; i++) {
        printf("tick %lu\n", i);
        if (strcmp(mode, "yield") == 0) {
            long rc = sched_yield();
            if (rc != 0)
                xtf_failure("Fail: sched_yield returned %ld\n", rc);
        } else if (strcmp(mode, "busy") == 0) {
            uint64_t until = now_ns() + busy_us * NS_PER_US;
            while (now_ns() < until)
                barrier();
        } else if (strcmp(mode, "sleep") == 0) {
            long rc = sleep_ns(busy_us * NS_PER_US);
            if (rc != 0)
                xtf_failure("Fail: sleep returned %ld\n", rc);
        } else {
            xtf_error("Error: unknown mode '%s'\n", mode);
            return;
        }
    }
    printf("ticker done\n");
    xtf_success(NULL);
}
