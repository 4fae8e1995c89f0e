// SPDX-License-Identifier: MIT
// The judge of the proportional-share tests (tests/resource/test_shares.py) and figures
// (tests/bench/sched_share_*.toml): reads the CPU time of every other domain, sleeps ms= (default
// 1000) milliseconds while they run, reads it again, destroys them and prints `share: <name>
// cpu_ns=<used meanwhile> elapsed_ns=<the sleep>`. With figure=cap20 it also reports the share
// of the domain named `capped` as sched_cap20_share_percent; with figure=weight124 the largest
// distance of w1, w2, w4's shares of their total from 1/7, 2/7, 4/7 as
// sched_weight_124_max_error_percent (both in hundredths of a percent: unit hundredths_percent).
// With lift=<name> it first sleeps ms=, then lifts that domain's cap, then judges as above; with
// weigh=<name> weight=<w> it first sleeps ms=, then gives that domain weight w, then judges.
#include <moat/bench.h>
#include <moat/test.h>

static uint64_t before[MOAT_MAX_DOMAINS];

static uint64_t dist(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

/* After a first sleep, the named domain gets weight and cap 0 (setsched; weight 0: the
 * default), while the others run; the judged window then starts.
 * lift=<name>: its cap is taken away. A capped domain spends most of each period parked, so the
 * lift usually finds it parked, and it must run again at once.
 * weigh=<name> weight=<w>: a domain that ran with the default weight gets w, at run time (so the
 * hypervisor's per-domain record of what its switch needs must follow). */
static void setsched_named(uint64_t ms, const char *name, uint32_t weight, const char *what)
{
    sleep_ns(ms * NS_PER_MS);
    long d = domctl_find(name);
    if (d < 0) {
        xtf_failure("Fail: no domain named %s to set\n", name);
        return;
    }
    struct moat_domctl_sched sc;
    xtf_check_eq(domctl_setsched((domid_t)d, weight, 0), 0);
    xtf_check(domctl_getsched((domid_t)d, &sc) == 0 && sc.weight == (weight ? weight : 256) && sc.cap == 0,
              "setsched took");
    printf("%s: %s\n", what, name);
}

void test_main(void)
{
    uint64_t ms = cmdline_ulong("ms", 1000);
    char figure[16] = "", named[32] = "";
    cmdline_get("figure", figure, sizeof(figure));
    if (cmdline_get("lift", named, sizeof(named)))
        setsched_named(ms, named, 0, "lifted");
    if (cmdline_get("weigh", named, sizeof(named)))
        setsched_named(ms, named, (uint32_t)cmdline_ulong("weight", 256), "weighed");
    struct moat_domctl_info info;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++)
        if (i != start_info->domid && domctl_getinfo((domid_t)i, &info) == 0)
            before[i] = info.cpu_time_ns;
    uint64_t t0 = now_ns();
    sleep_ns(ms * NS_PER_MS);
    uint64_t elapsed = now_ns() - t0;
    uint64_t capped = 0, w[3] = {0};
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++) {
        if (i == start_info->domid || domctl_getinfo((domid_t)i, &info) != 0)
            continue;
        xtf_check_eq(domctl_destroy((domid_t)i), 0);
        uint64_t used = info.cpu_time_ns - before[i];
        printf("share: %s cpu_ns=%lu elapsed_ns=%lu\n", info.name, (unsigned long)used, (unsigned long)elapsed);
        if (!strcmp(info.name, "capped"))
            capped = used;
        for (unsigned k = 0; k < 3; k++)
            if (info.name[0] == 'w' && info.name[1] == "124"[k] && !info.name[2])
                w[k] = used;
    }
    if (!strcmp(figure, "cap20"))
        bench_report_value("sched_cap20_share_percent", capped * 10000 / elapsed, "hundredths_percent");
    if (!strcmp(figure, "weight124")) {
        uint64_t total = w[0] + w[1] + w[2], worst = 0;
        for (unsigned k = 0; total && k < 3; k++) {
            uint64_t err = dist(w[k] * 70000 / total, 10000u * (1u << k)) / 7; /* 0.01 % of the CPU */
            worst = err > worst ? err : worst;
        }
        bench_report_value("sched_weight_124_max_error_percent", total ? worst : 10000, "hundredths_percent");
    }
    xtf_success(NULL);
}
