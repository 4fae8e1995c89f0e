// SPDX-License-Identifier: MIT
// How long the scheduler lets a domain run at a stretch while another that never yields shares its
// CPU: the scenario's slice (tests/domains/test_scheduling.py, scenarios slice_*ms). This domain
// spins reading system time and never makes a hypercall while it measures; a gap of more than
// GAP_NS between two readings is a stretch in which the other domain ran (a tick alone stops it
// for a microsecond or two). From the first reading after such a gap to the last before the next
// is one run, which is one slice: it starts at the switch to this domain and ends at the switch
// away. The first run is not counted (it began at boot, not at a switch).
//   runs=N    the runs to measure (default 8, at most MAX_RUNS)
//   peer=NAME the domain sharing the CPU, destroyed at the end (default spinner): it is spinning
//             when this domain is done and would never end by itself. So this domain must be
//             privileged (domctl).
// Prints `slice runs: <us> <us> ...` (each run in microseconds), destroys the peer and ends in
// SUCCESS; a FAILURE if it did not see the runs within LIMIT_NS (the peer never ran, or ran for
// ever).
#include <moat/test.h>

#define GAP_NS (100 * NS_PER_US)   /* far above a tick's interruption, far below a 1 ms slice */
#define LIMIT_NS (500 * NS_PER_MS) /* a bound on the measurement: 8 runs of 10 ms slices fit */
#define MAX_RUNS 32u

static uint64_t runs_ns[MAX_RUNS];

/* Spins until it has n runs after the first, or until the limit; returns the runs it has. */
static unsigned measure(unsigned n)
{
    uint64_t first = now_ns(), start = first, last = first;
    unsigned seen = 0; /* gaps seen: the run before the first gap is not counted */
    while (seen <= n) {
        uint64_t t = now_ns();
        if (t - last > GAP_NS) {
            if (seen)
                runs_ns[seen - 1] = last - start;
            seen++;
            start = t;
        }
        last = t;
        if (t - first > LIMIT_NS)
            break;
    }
    return seen ? seen - 1 : 0;
}

void test_main(void)
{
    char peer[32] = "spinner";
    cmdline_get("peer", peer, sizeof(peer));
    unsigned long n = cmdline_ulong("runs", 8);
    n = n < MAX_RUNS ? n : MAX_RUNS;
    long other = domctl_find(peer);
    xtf_assert(other >= 0, "no domain named %s", peer);

    unsigned got = measure((unsigned)n);
    printf("slice runs:");
    for (unsigned i = 0; i < got; i++)
        printf(" %lu", (unsigned long)(runs_ns[i] / NS_PER_US));
    printf("\n");
    xtf_check(got == n, "%u runs of %lu within %lu ms", got, n, (unsigned long)(LIMIT_NS / NS_PER_MS));
    xtf_check_eq(domctl_destroy((domid_t)other), 0);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
