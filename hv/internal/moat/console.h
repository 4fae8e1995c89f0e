/* SPDX-License-Identifier: MIT */
/* The hypervisor console: COM1 and printk (the formatting is lib/format.h's, shared with guests). */
#ifndef MOAT_CONSOLE_H
#define MOAT_CONSOLE_H

#include <stdarg.h>
#include <lib/format.h>
#include <moat/types.h>


int printk(const char *fmt, ...) printf_like(1, 2);
int vprintk(const char *fmt, va_list ap);

/* A line printed later (hv/core/console.c): print(copy of data) runs before the next console
 * output, when a CPU idles, or when the ring is full. For audit lines made inside an operation;
 * data (at most CONSOLE_DEFER_MAX bytes) must hold everything print needs, names included. */
#define CONSOLE_DEFER_MAX 160
void console_defer(void (*print)(const void *data), const void *data, size_t size);
/* The same, with the record written straight into the ring instead of built aside and copied:
 * console_defer_begin takes the ring (its lock held) and answers the line's data, CONSOLE_DEFER_MAX
 * bytes aligned to CONSOLE_DEFER_ALIGN; the caller fills it (stores only: nothing that prints or
 * defers) and console_defer_end publishes the line. */
#define CONSOLE_DEFER_ALIGN 8
void *console_defer_begin(void (*print)(const void *data));
void console_defer_end(void);
/* Prints the deferred lines now (a no-op when none wait). */
void console_drain(void);

#endif
