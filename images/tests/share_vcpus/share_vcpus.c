// SPDX-License-Identifier: MIT
// A spinner with several vCPUs (tests/resource/test_shares.py, a cap across CPUs): brings up
// vCPUs 1 to vcpus= - 1 (default 2) and spins on every one, vCPU 0 included, without a
// hypercall, so on a machine of several CPUs its vCPUs run at once. Tests destroy it through
// domctl. `watch=N`: each vCPU also adds up the time it runs (spans of system time without a gap
// of GAP_NS: the time between two reads it did not run) in each cap period of 10 ms, and after N
// periods the first vCPU to see them over prints the most the domain ran in one whole period:
// `most in one period: <us> us over <N> periods`.
#include <moat/guest.h>
#include <moat/vcpu.h>

#define PERIOD_NS (10 * NS_PER_MS) /* the hypervisor's cap period (SHARE_PERIOD_NS) */
#define GAP_NS (20 * NS_PER_US)    /* longer than any two reads take while running */
#define PERIODS_MAX 128

static volatile uint64_t spins[MOAT_MAX_VCPUS];
static unsigned long watch;
static uint64_t first_period, ran_ns[PERIODS_MAX];
static bool reported;

static void report(void)
{
    uint64_t most = 0;
    for (unsigned long p = 1; p <= watch; p++) /* period 0 began before the watch */
        most = __atomic_load_n(&ran_ns[p], __ATOMIC_RELAXED) > most ? ran_ns[p] : most;
    printf("most in one period: %lu us over %lu periods\n", (unsigned long)(most / NS_PER_US), watch);
    console_flush();
}

static void spin(unsigned id)
{
    uint64_t last = now_ns();
    for (;;) {
        spins[id]++;
        if (!watch)
            continue;
        uint64_t t = now_ns(), p = t / PERIOD_NS - first_period;
        if (t - last < GAP_NS && p < PERIODS_MAX)
            __atomic_add_fetch(&ran_ns[p], t - last, __ATOMIC_RELAXED);
        last = t;
        if (p > watch && !__atomic_exchange_n(&reported, true, __ATOMIC_RELAXED))
            report();
    }
}

int main(const struct start_info *si)
{
    unsigned long n = cmdline_ulong("vcpus", 2);
    watch = cmdline_ulong("watch", 0);
    watch = watch < PERIODS_MAX - 1 ? watch : PERIODS_MAX - 2;
    first_period = now_ns() / PERIOD_NS;
    for (unsigned id = 1; id < n && id < MOAT_MAX_VCPUS; id++) {
        long rc = vcpu_start(id, spin);
        if (rc) {
            printf("share_vcpus %u: vcpu %u: %ld\n", si->domid, id, rc);
            return 1;
        }
    }
    printf("share_vcpus %u up: %lu vcpus\n", si->domid, n);
    console_flush();
    spin(0);
    return 0;
}
