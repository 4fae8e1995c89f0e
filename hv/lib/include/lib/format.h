/* SPDX-License-Identifier: MIT */
/*
 * printf-style formatting: one engine (hv/lib/format.c) for the hypervisor's printk and the guest
 * library's printf, each of which only supplies where the characters go (a sink).
 *
 * Conversions: %s %c %d %i %u %x %X %p %%; the flags '-', '0' and '#' (0x for %x, 0X for %X); a
 * width (or *, negative: left-justified); a precision for %s (or .*); the length modifiers l, ll
 * and z (all 64 bits here). %p is 0x and the address in lower-case hex. An unknown conversion is
 * printed as written. No floating point: nothing needs it.
 */
#ifndef MOAT_LIB_FORMAT_H
#define MOAT_LIB_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

/* Called once per character produced, in order. */
typedef void (*format_sink_t)(void *ctx, char c);

/* Formats fmt with ap through sink; returns the number of characters produced. */
int vformat(format_sink_t sink, void *ctx, const char *fmt, va_list ap);

/* Like C99's: writes at most size bytes including the terminating NUL, returns the full length. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
