// SPDX-License-Identifier: MIT
// A domain spinning forever must not keep the others from running. This privileged controller
// shares the CPU with `spinner` (never yields) and `worker` (busy, never yields): it sleeps on
// timers, which only works if the scheduler preempts the spinner, checks CPU time accounting,
// pauses and unpauses the spinner, waits for the worker to finish, then destroys the spinner.
// If preemption broke, this domain never wakes and the boot times out.
// `mode=yield-alone`: the spinner only. A yield with nobody else queued must leave nothing
// pending: once the spinner is unpaused (queued, with no switch asked for), this domain keeps the
// CPU for the rest of its slice, hypercalls and all.
// `mode=keep` (scenario sched_keep, 2 CPUs, this domain of 3 vCPUs on CPUs 0, 1, 0): pausing
// another domain and bringing another of its own vCPUs down leave the caller its CPU (no spinner
// queued behind it on its CPU runs first), whether that domain or vCPU is queued on the caller's
// CPU or running on the other; and a vCPU brought down on the other CPU runs no more once
// VCPUOP_down returns; a running domain's vCPU (of `sleepy`) may be pinned only while down; and
// `far`, making hypercalls, is paused and unpaused 40 times (it checks their results itself).
// `mode=remove` (scenario sched_remove_remote, 2 CPUs, this domain on CPU 1): destroys a domain
// running on CPU 0, then one that CPU 0 only holds (it ran there last and was paused: CPU 0 idles
// with its page tables in CR3 and its extended state in the registers). Each destroy must stop or
// clear CPU 0 before the domain's frames go back (the hypervisor's checks panic otherwise).
// `mode=capped` (scenario share_cap_8_vcpus): `big`, capped, of the most vCPUs (8), is parked and
// refilled by its cap for a few periods, then paused (no CPU time while paused, through period
// boundaries), unpaused (it runs again) and destroyed, and `other` with it.
#include <moat/test.h>
#include <moat/time.h>
#include <moat/vcpu.h>

static struct moat_domctl_info info_of(domid_t d)
{
    struct moat_domctl_info info;
    memset(&info, 0, sizeof(info));
    long rc = domctl_getinfo(d, &info);
    if (rc != 0)
        xtf_failure("Fail: getinfo(%u) returned %ld\n", d, rc);
    return info;
}

static void yield_alone(domid_t spinner)
{
    xtf_check_eq(domctl_pause(spinner), 0);
    xtf_check_eq(sleep_ns(NS_PER_MS), 0); /* alone: woken with a fresh 5 ms slice */
    xtf_check_eq(sched_yield(), 0);        /* nobody else queued: it goes on */
    uint64_t t0 = now_ns();
    xtf_check_eq(domctl_unpause(spinner), 0);
    struct moat_domctl_info s = info_of(spinner);
    uint64_t t1 = now_ns();
    xtf_check(s.state == DOMSTATE_RUNNABLE, "unpaused spinner state %u", s.state);
    printf("unpause and getinfo after a yield alone: %lu us\n", (unsigned long)((t1 - t0) / NS_PER_US));
    xtf_check(t1 - t0 < NS_PER_MS, "the spinner ran before the slice was over");
    xtf_check_eq(domctl_destroy(spinner), 0);
    xtf_success(NULL);
}

static uint64_t keep_t0;
static volatile uint64_t counted; /* vCPU 1's spins */

static void count_spins(unsigned id)
{
    (void)id;
    for (;;)
        __atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
}

static volatile uint64_t quiet; /* vCPU 2's spins: counted, never read */

static void spin_quietly(unsigned id)
{
    (void)id;
    for (;;)
        quiet++;
}

/* After a sleep the caller runs with a fresh slice (5 ms): what follows until kept() must not
 * give its CPU to the spinners queued behind it. */
static void fresh_slice(void)
{
    xtf_check_eq(sleep_ns(NS_PER_MS), 0);
    keep_t0 = now_ns();
}

static void kept(const char *what)
{
    uint64_t us = (now_ns() - keep_t0) / NS_PER_US;
    printf("%s: %lu us\n", what, (unsigned long)us);
    xtf_check(us < 1000, "%s: the caller lost its CPU (%lu us)", what, (unsigned long)us);
}

static domid_t found(const char *name)
{
    long d = domctl_find(name);
    xtf_assert(d >= 0, "no domain %s", name);
    return (domid_t)d;
}

static void keep(void)
{
    domid_t near = found("near-a"), far = found("far");
    found("near-b"); /* queued on CPU 0: it runs if this domain gives CPU 0 away */

    fresh_slice(); /* a domain queued on this CPU */
    xtf_check_eq(domctl_pause(near), 0);
    kept("pause a domain queued on this cpu");
    xtf_check_eq(domctl_unpause(near), 0);

    fresh_slice(); /* far runs alone on CPU 1 */
    xtf_check_eq(domctl_pause(far), 0);
    kept("pause a domain running on the other cpu");

    /* vCPU 1 alone on CPU 1 (far stays paused), counting; vCPU 2 queued on CPU 0 behind this one. */
    xtf_assert(vcpu_start(1, count_spins) == 0 && vcpu_start(2, spin_quietly) == 0, "vcpu_start failed");
    for (uint64_t give_up = now_ns() + NS_PER_SEC; !counted && now_ns() < give_up;)
        sleep_ns(NS_PER_MS);
    xtf_assert(counted, "vCPU 1 did not run");

    fresh_slice();
    xtf_check_eq(vcpu_down(1), 0);
    kept("down a vcpu running on the other cpu");
    uint64_t c1 = counted;
    sleep_ns(5 * NS_PER_MS);
    xtf_check(counted == c1, "vCPU 1 ran after it was brought down: %lu -> %lu spins", (unsigned long)c1,
              (unsigned long)counted);

    fresh_slice();
    xtf_check_eq(vcpu_down(2), 0);
    kept("down a vcpu queued on this cpu");

    /* A running domain's vCPUs may be pinned only while down: `sleepy`'s vCPU 0 is blocked (for
     * ever), its vCPU 1 never came up. */
    domid_t sleepy = found("sleepy");
    xtf_check_eq(domctl_setvcpuaffinity(sleepy, 0, 1), -XEN_EBUSY);
    xtf_check_eq(domctl_setvcpuaffinity(sleepy, 1, 1), 0);
    xtf_check_eq(domctl_setvcpuaffinity(sleepy, 1, MOAT_CPU_ANY), 0);
    xtf_check_eq(domctl_destroy(sleepy), 0);

    /* far makes hypercalls in a loop (hypercalls=1), alone on CPU 1: paused many times, some
     * of its hypercalls wait for the hypervisor lock (held for the pause) when the pause comes. */
    xtf_check_eq(domctl_unpause(far), 0);
    for (unsigned i = 0; i < 40; i++) {
        sleep_ns(NS_PER_MS / 2);
        xtf_check_eq(domctl_pause(far), 0);
        xtf_check_eq(domctl_unpause(far), 0);
    }
    sleep_ns(NS_PER_MS);
    xtf_check_eq(domctl_destroy(far), 0);
    xtf_check_eq(domctl_destroy(near), 0);
    xtf_check_eq(domctl_destroy(found("near-b")), 0);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}

/* Waits (bounded) until d has run for some time more than it had. */
static void ran_more(domid_t d, const char *when)
{
    uint64_t t0 = info_of(d).cpu_time_ns, give_up = now_ns() + NS_PER_SEC;
    while (info_of(d).cpu_time_ns == t0 && now_ns() < give_up)
        sleep_ns(NS_PER_MS);
    xtf_check(info_of(d).cpu_time_ns > t0, "domain %u did not run %s", d, when);
}

static void destroyed(domid_t d)
{
    struct moat_domctl_info gone;
    xtf_check_eq(domctl_destroy(d), 0);
    xtf_check_eq(domctl_getinfo(d, &gone), -XEN_ESRCH);
}

static void remove_remote(void)
{
    domid_t running = found("running"), held = found("held");

    /* Both spin on CPU 0; with held paused, running is CPU 0's current vCPU from now on. */
    xtf_check_eq(domctl_pause(held), 0);
    ran_more(running, "before its destroy");
    destroyed(running);
    printf("destroyed a domain running on the other cpu\n");

    /* held runs on CPU 0 alone, then is paused: CPU 0 idles, its tables and registers still held's. */
    xtf_check_eq(domctl_unpause(held), 0);
    ran_more(held, "once unpaused");
    xtf_check_eq(domctl_pause(held), 0);
    sleep_ns(NS_PER_MS);
    destroyed(held);
    printf("destroyed a domain the other cpu held\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}

static void pause_capped(void)
{
    domid_t big = found("big"), other = found("other");
    ran_more(big, "at first");
    sleep_ns(30 * NS_PER_MS); /* three cap periods: big spends its budget, is parked, refilled */
    xtf_check_eq(domctl_pause(big), 0);
    uint64_t t = info_of(big).cpu_time_ns;
    sleep_ns(25 * NS_PER_MS); /* period boundaries: a refill must not queue a paused domain */
    xtf_check(info_of(big).cpu_time_ns == t, "paused big ran: %lu -> %lu ns", (unsigned long)t,
              (unsigned long)info_of(big).cpu_time_ns);
    xtf_check_eq(domctl_unpause(big), 0);
    ran_more(big, "once unpaused"); /* queued again by the unpause or its next refill */
    destroyed(big);
    destroyed(other);
    printf("paused, unpaused and destroyed a capped domain of 8 vcpus\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}

void test_main(void)
{
    char mode[16] = "";
    cmdline_get("mode", mode, sizeof(mode));
    if (strcmp(mode, "keep") == 0) {
        keep();
        return;
    }
    if (strcmp(mode, "capped") == 0) {
        pause_capped();
        return;
    }
    if (strcmp(mode, "remove") == 0) {
        remove_remote();
        return;
    }
    if (strcmp(mode, "yield-alone") == 0) {
        long s = domctl_find("spinner");
        xtf_assert(s >= 0, "no spinner");
        yield_alone((domid_t)s);
        return;
    }
    long spinner = domctl_find("spinner"), worker = domctl_find("worker");

    xtf_assert(spinner >= 0 && worker >= 0, "spinner %ld, worker %ld", spinner, worker);
    printf("spinner is d%ld, worker is d%ld\n", spinner, worker);

    // Woken by the timer while the spinner and the worker want the CPU all the time.
    for (int i = 0; i < 5; i++) {
        xtf_check_eq(sleep_ns(10 * NS_PER_MS), 0);
        printf("controller woke %d\n", i);
    }
    struct moat_domctl_info s1 = info_of((domid_t)spinner);
    xtf_check(s1.cpu_time_ns > 0, "the spinner has no CPU time");
    xtf_check(s1.state == DOMSTATE_RUNNABLE, "spinner state %u", s1.state);

    // Paused: no CPU time accrues.
    xtf_check_eq(domctl_pause((domid_t)spinner), 0);
    struct moat_domctl_info p1 = info_of((domid_t)spinner);
    xtf_check(p1.state == DOMSTATE_PAUSED, "paused spinner state %u", p1.state);
    sleep_ns(30 * NS_PER_MS);
    struct moat_domctl_info p2 = info_of((domid_t)spinner);
    xtf_check(p2.cpu_time_ns == p1.cpu_time_ns, "a paused domain ran: %lu -> %lu ns",
              (unsigned long)p1.cpu_time_ns, (unsigned long)p2.cpu_time_ns);

    // Unpaused: it runs again.
    xtf_check_eq(domctl_unpause((domid_t)spinner), 0);
    sleep_ns(30 * NS_PER_MS);
    struct moat_domctl_info u1 = info_of((domid_t)spinner);
    xtf_check(u1.state == DOMSTATE_RUNNABLE, "unpaused spinner state %u", u1.state);
    xtf_check(u1.cpu_time_ns > p2.cpu_time_ns, "the unpaused spinner did not run");

    // The worker needs the CPU to finish; wait (bounded) until it is gone.
    uint64_t give_up = now_ns() + 20 * NS_PER_SEC;
    struct moat_domctl_info w;
    while (domctl_getinfo((domid_t)worker, &w) == 0 && now_ns() < give_up)
        sleep_ns(20 * NS_PER_MS);
    xtf_check(domctl_getinfo((domid_t)worker, &w) == -XEN_ESRCH, "the worker did not finish");

    struct moat_domctl_info self = info_of(start_info->domid);
    printf("cpu time: controller %lu us, spinner %lu us\n",
           (unsigned long)(self.cpu_time_ns / NS_PER_US), (unsigned long)(u1.cpu_time_ns / NS_PER_US));

    xtf_check_eq(domctl_destroy((domid_t)spinner), 0);
    xtf_check_eq(domctl_getinfo((domid_t)spinner, &w), -XEN_ESRCH);
    xtf_success(NULL);
}
