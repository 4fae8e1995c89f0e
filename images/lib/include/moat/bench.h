/* SPDX-License-Identifier: MIT */
/*
 * Benchmark helpers for bench guests (images/bench/), following docs/benchmarks.md: time a body
 * with a plain rdtsc pair, subtract the measured cost of an empty pair, throw away warm-ups, and
 * print one `bench: <figure> min=.. median=.. max=.. n=.. unit=..` line per figure.
 *
 * Under `-icount shift=0,sleep=off` the TSC counts guest instructions, so no fences are needed
 * (nothing executes out of order) and rdtscp would only add an instruction to every pair.
 */
#ifndef MOAT_GUEST_BENCH_H
#define MOAT_GUEST_BENCH_H

#include <stdint.h>

#define BENCH_MAX_SAMPLES 1024u

/*
 * The 64-bit TSC in one asm block, so an empty pair is always the same few instructions and the
 * compiler cannot move the combining shift/or into the measured region of one pair but not of
 * another.
 */
static inline uint64_t bench_tsc(void)
{
    uint64_t t;
    __asm__ volatile("rdtsc\n\tshl $32, %%rdx\n\tor %%rdx, %%rax" : "=a"(t) : : "rdx", "memory");
    return t;
}

/*
 * The median cost of an empty bench_tsc() pair. Measured on the first call, which also prints
 * `bench: timer_overhead ...` (once per guest, as the protocol asks).
 */
uint64_t bench_overhead(void);

/*
 * Runs body warmup + n times and stores the last n durations, minus the timer overhead (clamped
 * at 0), in samples[0..n). body is pasted inline between the two TSC reads.
 */
#define BENCH_SAMPLES(samples, n, warmup, body)                                                \
    do {                                                                                       \
        uint64_t bench_ovh_ = bench_overhead();                                                \
        unsigned bench_w_ = (warmup), bench_n_ = (n);                                          \
        for (unsigned bench_i_ = 0; bench_i_ < bench_w_ + bench_n_; bench_i_++) {              \
            uint64_t bench_t0_ = bench_tsc();                                                  \
            body;                                                                              \
            uint64_t bench_d_ = bench_tsc() - bench_t0_;                                       \
            if (bench_i_ >= bench_w_)                                                          \
                (samples)[bench_i_ - bench_w_] = bench_d_ > bench_ovh_ ? bench_d_ - bench_ovh_ \
                                                                       : 0;                    \
        }                                                                                      \
    } while (0)

/* Subtracts the timer overhead from one raw pair delta, clamped at 0. */
static inline uint64_t bench_net(uint64_t delta)
{
    uint64_t ovh = bench_overhead();
    return delta > ovh ? delta - ovh : 0;
}

/* Sorts samples[0..n) ascending (in place). */
void bench_sort(uint64_t *samples, unsigned n);

/* Sorts the samples and prints the figure's line; n is clamped to BENCH_MAX_SAMPLES, 0 prints
 * nothing but an error line (which fails the scenario). */
void bench_report(const char *figure, uint64_t *samples, unsigned n, const char *unit);

/* A figure that is a single value (a count, or one sample): min = median = max, n=1. */
void bench_report_value(const char *figure, uint64_t value, const char *unit);

#endif
