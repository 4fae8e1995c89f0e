// SPDX-License-Identifier: MIT
// Benchmark helpers: timer overhead, sorting, the `bench:` result line (docs/benchmarks.md).
#include <moat/bench.h>
#include <moat/guest.h>

#define OVERHEAD_WARMUP 8u
#define OVERHEAD_SAMPLES 64u

static uint64_t overhead;
static bool overhead_known;

uint64_t bench_overhead(void)
{
    uint64_t samples[OVERHEAD_SAMPLES];

    if (overhead_known)
        return overhead;
    // The same loop shape as BENCH_SAMPLES with an empty body, but raw (nothing subtracted).
    for (unsigned i = 0; i < OVERHEAD_WARMUP + OVERHEAD_SAMPLES; i++) {
        uint64_t t0 = bench_tsc();
        uint64_t d = bench_tsc() - t0;
        if (i >= OVERHEAD_WARMUP)
            samples[i - OVERHEAD_WARMUP] = d;
    }
    bench_report("timer_overhead", samples, OVERHEAD_SAMPLES, "instructions");
    overhead = samples[(OVERHEAD_SAMPLES - 1) / 2];  // the median bench_report printed (it sorts)
    overhead_known = true;
    return overhead;
}

// Shell sort (Ciura's gaps): no recursion, no allocation, fast enough for 1024 samples.
void bench_sort(uint64_t *samples, unsigned n)
{
    static const unsigned gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

    for (unsigned g = 0; g < ARRAY_SIZE(gaps); g++) {
        unsigned gap = gaps[g];
        for (unsigned i = gap; i < n; i++) {
            uint64_t v = samples[i];
            unsigned j = i;
            for (; j >= gap && samples[j - gap] > v; j -= gap)
                samples[j] = samples[j - gap];
            samples[j] = v;
        }
    }
}

void bench_report(const char *figure, uint64_t *samples, unsigned n, const char *unit)
{
    if (n == 0) {
        printf("bench: error: figure %s has no samples\n", figure);
        return;
    }
    if (n > BENCH_MAX_SAMPLES)
        n = BENCH_MAX_SAMPLES;
    bench_sort(samples, n);
    // The lower median for even n: an actual sample, and integer-only.
    printf("bench: %s min=%lu median=%lu max=%lu n=%u unit=%s\n", figure,
           (unsigned long)samples[0], (unsigned long)samples[(n - 1) / 2],
           (unsigned long)samples[n - 1], n, unit);
    console_flush();
}

void bench_report_value(const char *figure, uint64_t value, const char *unit)
{
    uint64_t samples[1] = {value};
    bench_report(figure, samples, 1, unit);
}
