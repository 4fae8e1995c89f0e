// SPDX-License-Identifier: MIT
// A domain for the create and capacity benches to create. Its entry.S reads the TSC at the first
// instruction. With `t0=0x<16 hex digits> d=<n>` in the command line (the creator's TSC right
// before its domctl and the cost of writing that number, see images/bench/create/) it prints
//   bench: domctl_create_to_first_insn min=X median=X max=X n=1 unit=instructions
// (one sample per child; moat bench merges the lines), unless `warm` says it is a warm-up.
// Then, or without t0, it blocks forever: the creator destroys it.
#include <moat/bench.h>
#include <moat/guest.h>

extern uint64_t first_tsc;

int main(const struct start_info *si)
{
    (void)si;
    if (cmdline_has("t0") && !cmdline_has("warm")) {
        uint64_t t0 = cmdline_ulong("t0", 0), d = cmdline_ulong("d", 0);
        if (t0 == 0 || first_tsc < t0 + d)
            printf("bench: error: bad t0=%#lx d=%lu for first_tsc=%#lx\n", (unsigned long)t0,
                   (unsigned long)d, (unsigned long)first_tsc);
        else
            bench_report_value("domctl_create_to_first_insn", first_tsc - t0 - d, "instructions");
    }
    for (;;)
        sched_block();
}
