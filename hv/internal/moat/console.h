/* SPDX-License-Identifier: MIT */
/* The hypervisor console: COM1 and a small printf. */
#ifndef MOAT_CONSOLE_H
#define MOAT_CONSOLE_H

#include <stdarg.h>
#include <moat/types.h>

void serial_init(void);
void serial_putc(char c);
void console_write(const char *s, size_t n);

int printk(const char *fmt, ...) printf_like(1, 2);
int vprintk(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) printf_like(3, 4);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* The formatting core: calls sink(ctx, c) for every character; returns how many it produced. */
int format(void (*sink)(void *ctx, char c), void *ctx, const char *fmt, va_list ap);

#endif
