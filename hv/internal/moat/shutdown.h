/* SPDX-License-Identifier: MIT */
/* Stopping the machine with a status the host can read (isa-debug-exit, see docs/CONTRACTS.md). */
#ifndef MOAT_SHUTDOWN_H
#define MOAT_SHUTDOWN_H

#include <moat/types.h>

enum stop_status { STOP_SUCCESS = 0, STOP_FAILURE = 1 };

noreturn void machine_stop(enum stop_status status);
noreturn void panic(const char *fmt, ...) printf_like(1, 2);

#define BUG_ON(cond)                                                                                                   \
    do {                                                                                                               \
        if (cond)                                                                                                      \
            panic("BUG_ON(%s) at %s:%d", #cond, __FILE__, __LINE__);                                                   \
    } while (0)

#endif
