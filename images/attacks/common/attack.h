/* SPDX-License-Identifier: MIT */
/*
 * The hostile guests of tests/attacks (docs/security.md). Every attack prints exactly one verdict
 * line, which tests/attacks/test_attacks.py collects:
 *
 *     ATTACK <name>: CONTAINED
 *     ATTACK <name>: BROKEN <why>
 *
 * An attack that would kill its own domain (a privileged instruction, a wild pointer) runs in a
 * child domain that a supervisor creates; the supervisor prints the verdict. The helpers here
 * are header-only so that every attack image stays one directory of its own.
 */
#ifndef ATTACK_H
#define ATTACK_H

#include <stdarg.h>

#include <moat/evtchn.h>
#include <moat/guest.h>

/* Prints the verdict of one attack: CONTAINED if ok, else BROKEN and why. Returns ok. */
static inline bool PRINTF_LIKE(3, 4) verdict(const char *name, bool ok, const char *fmt, ...)
{
    if (ok) {
        printf("ATTACK %s: CONTAINED\n", name);
        return true;
    }
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    printf("ATTACK %s: BROKEN %s\n", name, why);
    return false;
}

/* The result must be exactly `want`. */
static inline bool expect_rc(const char *name, long rc, long want)
{
    return verdict(name, rc == want, "returned %ld, expected %ld", rc, want);
}

/* Every wait is bounded: TCG on a loaded machine is slow, but never this slow. */
#define ATTACK_WAIT_NS (60 * NS_PER_SEC)

/* Sleeps until port is pending (the bit stays set) or the deadline passes. */
static inline bool attack_wait(evtchn_port_t port, uint64_t deadline_ns)
{
    while (!evtchn_port_pending(port)) {
        if (now_ns() >= deadline_ns)
            return false;
        sched_poll(&port, 1, deadline_ns);
    }
    return true;
}

/* Waits until the domain is gone (getdomaininfo says -ESRCH; needs read_state on it). */
static inline bool attack_wait_gone(domid_t domid, uint64_t deadline_ns)
{
    struct moat_domctl_info info;
    while (domctl_getinfo(domid, &info) != -XEN_ESRCH) {
        if (now_ns() >= deadline_ns)
            return false;
        sleep_ns(NS_PER_MS);
    }
    return true;
}

/* Blocks for good: the domain is ended by someone else (expect = "any"). */
static inline __attribute__((noreturn)) void attack_sleep_forever(void)
{
    for (;;)
        sleep_ns(NS_PER_SEC);
}

#endif
