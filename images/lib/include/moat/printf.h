/* SPDX-License-Identifier: MIT */
/*
 * printf and friends. The formatting is the engine the hypervisor uses too (<lib/format.h>, from
 * hv/lib/format.c): %s %c %d %i %u %x %X %p %% with the length modifiers l, ll and z, a width (or
 * *), a precision for %s (or .*), and the flags '0', '-' and '#'. No floating-point conversions
 * (%f and the like): nothing in the runtime needs them.
 */
#ifndef MOAT_GUEST_PRINTF_H
#define MOAT_GUEST_PRINTF_H

#include <stdarg.h>
#include <stddef.h>

#include <lib/format.h> /* snprintf, vsnprintf (C99's: always terminated, the full length returned) */

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* To the console, line buffered (see console.h). Returns the number of characters. */
int vprintf(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);
int printf(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
