// SPDX-License-Identifier: MIT
// The cheapest hypercalls, for comparison with the floors in the x86 facts (32 instructions for
// syscall -> bounds-checked C dispatch -> sysretq with a minimal save):
//   null_hypercall_enosys       an unassigned number (1): entry, table bounds/NULL check, exit
//   null_hypercall_xen_version  xen_version(XENVER_version): the same plus a tiny handler
//   sched_yield_alone           SCHEDOP_yield with no other runnable domain (the scheduler path
//                               without a switch); the scenario must boot this domain alone
#include <moat/bench.h>
#include <moat/test.h>

#define WARMUP 100u
#define SAMPLES 1000u

#define UNASSIGNED_HYPERCALL 1 /* nothing in the table at this number */

static uint64_t samples[SAMPLES];

void test_main(void)
{
    long rc = hypercall0(UNASSIGNED_HYPERCALL);
    if (rc != -XEN_ENOSYS) {
        xtf_error("Error: hypercall %d returned %ld, expected -ENOSYS\n", UNASSIGNED_HYPERCALL, rc);
        return;
    }
    rc = HYPERVISOR_xen_version(XENVER_version, NULL);
    if (rc < 0) {
        xtf_error("Error: xen_version returned %ld\n", rc);
        return;
    }

    BENCH_SAMPLES(samples, SAMPLES, WARMUP, hypercall0(UNASSIGNED_HYPERCALL));
    bench_report("null_hypercall_enosys", samples, SAMPLES, "instructions");

    BENCH_SAMPLES(samples, SAMPLES, WARMUP, HYPERVISOR_xen_version(XENVER_version, NULL));
    bench_report("null_hypercall_xen_version", samples, SAMPLES, "instructions");

    BENCH_SAMPLES(samples, SAMPLES, WARMUP, sched_yield());
    bench_report("sched_yield_alone", samples, SAMPLES, "instructions");

    xtf_success(NULL);
}
