// SPDX-License-Identifier: MIT
// Blocks forever (no timer, no events): a domain for tests to create, inspect and destroy.
#include <moat/guest.h>

int main(const struct start_info *si)
{
    printf("sleeper %u up\n", si->domid);
    console_flush();
    for (;;)
        sched_block();
}
