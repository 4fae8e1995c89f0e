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
/* Prints the deferred lines now (a no-op when none wait). */
void console_drain(void);

#endif
