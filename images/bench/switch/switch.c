// SPDX-License-Identifier: MIT
// A switch between two domains: two copies of this image yield to each other.
//   role=ping  times sched_yield(): ping -> pong -> ping, i.e. two switches plus pong's loop
//              (a handful of instructions around its own yield); reports the round trip and
//              half of it as domain_switch.
//   role=pong  yields in a loop, rounds=N times (more than ping needs), then ends.
// Both are domU; the scenario boots exactly these two so round-robin alternates them.
#include <moat/bench.h>
#include <moat/test.h>

#define WARMUP 100u
#define SAMPLES 1000u

static uint64_t samples[SAMPLES];

static void ping(void)
{
    BENCH_SAMPLES(samples, SAMPLES, WARMUP, sched_yield());
    // Copy before bench_report sorts: the halves come from the same samples.
    static uint64_t halves[SAMPLES];
    for (unsigned i = 0; i < SAMPLES; i++)
        halves[i] = samples[i] / 2;
    bench_report("domain_switch_round_trip", samples, SAMPLES, "instructions");
    bench_report("domain_switch", halves, SAMPLES, "instructions");
}

static void pong(void)
{
    unsigned long rounds = cmdline_ulong("rounds", 4 * (WARMUP + SAMPLES));
    for (unsigned long i = 0; i < rounds; i++)
        sched_yield();
}

void test_main(void)
{
    if (cmdline_has("role=ping"))
        ping();
    else if (cmdline_has("role=pong"))
        pong();
    else {
        xtf_error("Error: cmdline needs role=ping or role=pong\n");
        return;
    }
    xtf_success(NULL);
}
