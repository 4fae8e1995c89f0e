/* SPDX-License-Identifier: MIT */
/* Test-only code paths of the CONFIG_SELFTEST build, chosen by "selftest=" on the command line. */
#ifndef MOAT_SELFTEST_H
#define MOAT_SELFTEST_H

#include <moat/types.h>

/* Runs the named self-test and stops the machine; returns only if the build has no self-tests. */
void selftest_run(const char *name);

struct cpu_regs;
#ifdef CONFIG_SELFTEST
/* Called at every entry into C from the entry code: stops the machine if EFLAGS.AC is set (a
 * guest's AC must never reach the hypervisor, where it would switch SMAP off). */
void selftest_entry_check(const struct cpu_regs *regs);

/* A self-test's check: counted, and on failure one `check failed:` line (the condition, then the
 * printk-style message) and a failure that makes the self-test's result FAILURE. */
extern int selftest_failures;
extern unsigned selftest_checks;
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        selftest_checks++;                                                                                             \
        if (!(cond)) {                                                                                                 \
            printk("check failed: %s: ", #cond);                                                                       \
            printk(__VA_ARGS__);                                                                                       \
            printk("\n");                                                                                              \
            selftest_failures++;                                                                                       \
        }                                                                                                              \
    } while (0)

/* hv/core/selftest_lib.c: the checks of the shared library code (the caller prints the result). */
void selftest_sha256(void);
void selftest_tpm(void);
void selftest_fwlog(void);
/* hv/core/measure_fwlog.c's used_length(): how much of a firmware log area holds events. */
size_t selftest_fwlog_used_length(const uint8_t *log, size_t area);
#else
static inline void selftest_entry_check(const struct cpu_regs *regs) { (void)regs; }
#endif

#endif
