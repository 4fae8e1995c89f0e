/* SPDX-License-Identifier: MIT */
/* Test-only code paths of the CONFIG_SELFTEST build, chosen by "selftest=" on the command line. */
#ifndef MOAT_SELFTEST_H
#define MOAT_SELFTEST_H

#include <moat/types.h>

/* Runs the named self-test and stops the machine; returns only if the build has no self-tests. */
void selftest_run(const char *name);

#endif
