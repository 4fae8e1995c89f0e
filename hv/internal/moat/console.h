/* SPDX-License-Identifier: MIT */
/* The hypervisor console: COM1 and printk (the formatting is lib/format.h's, shared with guests). */
#ifndef MOAT_CONSOLE_H
#define MOAT_CONSOLE_H

#include <stdarg.h>
#include <lib/format.h>
#include <moat/types.h>


int printk(const char *fmt, ...) printf_like(1, 2);
int vprintk(const char *fmt, va_list ap);

#endif
