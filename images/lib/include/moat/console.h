/* SPDX-License-Identifier: MIT */
/*
 * The console: bytes go to the hypervisor through console_io. Output is line buffered so each
 * line reaches the hypervisor in one call (it prefixes every line with the domain id and records
 * a line that starts with "Test result: "). The buffer is flushed on '\n', when it is full, by
 * console_flush() and on exit.
 */
#ifndef MOAT_GUEST_CONSOLE_H
#define MOAT_GUEST_CONSOLE_H

#include <stddef.h>

#define CONSOLE_LINE_MAX 512 /* longer lines reach the hypervisor in pieces */

/* Unbuffered: one or more console_io calls of at most CONSOLEIO_MAX bytes. Returns 0 or -errno. */
long console_write(const char *buf, size_t len);

void console_putc(char c);
void console_puts(const char *s); /* no newline added */
void console_flush(void);

#endif
