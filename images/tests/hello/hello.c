// SPDX-License-Identifier: MIT
// The smallest test guest: says hello, shows what it was given, reports success.
#include <moat/test.h>

void test_main(void)
{
    printf("hello from domain %u '%s', %lu pages, cmdline '%s'\n", start_info->domid,
           start_info->name, (unsigned long)start_info->nr_pages, start_info->cmd_line);
    xtf_success(NULL);
}
