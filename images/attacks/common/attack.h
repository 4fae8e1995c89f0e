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

/* An attack image's roles, chosen by mode=<name> on its command line. */
struct attack_mode {
    const char *name;
    void (*run)(void);
};

/* Runs the role the command line names; an unknown one is an error (exit status 1). */
static inline int attack_main(const struct attack_mode *modes, unsigned n)
{
    char mode[16] = "";
    cmdline_get("mode", mode, sizeof(mode));
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(mode, modes[i].name)) {
            modes[i].run();
            return 0;
        }
    printf("%s: unknown mode '%s'\n", start_info->name, mode);
    return 1;
}

#endif
