/* SPDX-License-Identifier: MIT */
/* Guest console output: line-buffered per domain, prefixed "(d<id>) ", never interleaved mid-line. */
#ifndef MOAT_CONSOLE_IO_H
#define MOAT_CONSOLE_IO_H

#include <moat/types.h>

struct domain;

void console_flush_domain(struct domain *d);
long do_console_io(uint64_t cmd, uint64_t count, uint64_t buffer, uint64_t a4, uint64_t a5);

#endif
