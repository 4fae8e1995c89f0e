/* SPDX-License-Identifier: MIT */
/*
 * printf and friends. Conversions: %s %c %d %i %u %x %X %p %% with the length modifiers l, ll
 * and z, a width (or *), a precision for %s (or .*), and the flags '0' and '-'. No floating-point
 * conversions (%f and the like): nothing in the runtime needs them.
 */
#ifndef MOAT_GUEST_PRINTF_H
#define MOAT_GUEST_PRINTF_H

#include <stdarg.h>
#include <stddef.h>

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Like C99's: writes at most size bytes including the terminating NUL, returns the full length. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) PRINTF_LIKE(3, 0);
int snprintf(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* To the console, line buffered (see console.h). Returns the number of characters. */
int vprintf(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);
int printf(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
