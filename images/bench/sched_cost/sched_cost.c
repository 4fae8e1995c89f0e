// SPDX-License-Identifier: MIT
// The scheduler's own cost with N runnable domains on one CPU (docs/benchmarks.md): what a tick
// costs and what a switch costs, so that a growth with N shows.
//   role=tick figure=<name> [samples=N]  spins reading the TSC; every gap in its readings is a
//              timer interrupt (the tick: its entry, sched_tick, the exit back to this domain,
//              which the scenario gives a slice longer than the measurement by its weight), and
//              reports their median. Ends when it has its samples.
//   role=switch n=<domains> figure=<name> [samples=N]  times sched_yield() while n-1 others
//              yield in a loop: one sample is n switches (and n yields and n-1 loop turns), and
//              the figure is one n-th of it, a yield to the next of n runnable domains.
//   role=spin ms=<t> / role=yield ms=<t>  runnable all the time (spinning, or yielding in a
//              loop) until t ms of system time, then end: the load that the two above run beside.
//   end_load   (with role=tick or role=switch, a privileged domain) once it has reported, destroys
//              every other domain: the load has served its purpose, and its ms= is only the end
//              it comes to if the figure never does.
#include <moat/bench.h>
#include <moat/test.h>

#define WARMUP 10u
// A gap between two TSC readings of the tick loop longer than this is an interrupt: the loop
// itself is a handful of instructions, the shortest interrupt hundreds.
#define GAP_MIN 100u

static uint64_t samples[BENCH_MAX_SAMPLES];

static unsigned sample_count(void)
{
    unsigned long n = cmdline_ulong("samples", 200);
    return n > BENCH_MAX_SAMPLES ? BENCH_MAX_SAMPLES : (unsigned)n;
}

static void tick(const char *figure)
{
    unsigned n = sample_count();
    bench_overhead();
    uint64_t prev = bench_tsc();
    for (unsigned got = 0; got < WARMUP + n;) {
        uint64_t t = bench_tsc();
        uint64_t d = t - prev;
        prev = t;
        if (d > GAP_MIN) {
            if (got >= WARMUP)
                samples[got - WARMUP] = bench_net(d);
            got++;
        }
    }
    bench_report(figure, samples, n, "instructions");
}

static void switch_cost(const char *figure)
{
    unsigned n = sample_count();
    unsigned long domains = cmdline_ulong("n", 0);
    if (domains < 2) {
        xtf_error("Error: role=switch needs n=<domains taking turns>, at least 2\n");
        return;
    }
    BENCH_SAMPLES(samples, n, WARMUP, sched_yield());
    for (unsigned i = 0; i < n; i++)
        samples[i] /= domains;
    bench_report(figure, samples, n, "instructions");
}

// Spins or yields until ms= of system time; the clock is read every 256 turns only, so that a
// yielder's turn stays a few instructions beside the switch it measures.
static void load(bool yield)
{
    uint64_t until = cmdline_ulong("ms", 1000) * 1000000ull;
    for (unsigned long i = 0;; i++) {
        if (yield)
            sched_yield();
        if ((i & 255) == 0 && now_ns() >= until)
            return;
        barrier();
    }
}

static void end_load(void)
{
    if (!cmdline_has("end_load"))
        return;
    for (domid_t d = 0; d < MOAT_MAX_DOMAINS; d++)
        if (d != start_info->domid)
            (void)domctl_destroy(d); /* -ESRCH for a free id; a load domain is gone after it */
}

void test_main(void)
{
    char figure[48] = "";
    cmdline_get("figure", figure, sizeof(figure));
    if (cmdline_has("role=tick") && figure[0]) {
        tick(figure);
        end_load();
    } else if (cmdline_has("role=switch") && figure[0]) {
        switch_cost(figure);
        end_load();
    } else if (cmdline_has("role=spin")) {
        load(false);
    } else if (cmdline_has("role=yield")) {
        load(true);
    } else {
        xtf_error("Error: cmdline needs role=tick|switch figure=<name>, or role=spin|yield\n");
        return;
    }
    xtf_success(NULL);
}
