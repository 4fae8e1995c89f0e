/* SPDX-License-Identifier: MIT */
/* The string and memory functions the hypervisor uses (there is no libc): the shared ones, and its own. */
#ifndef MOAT_LIB_H
#define MOAT_LIB_H

#include <lib/string.h>
#include <moat/types.h>

uint32_t crc32(const void *data, size_t n);
/* Whether s holds a NUL within its first size bytes (a fixed-size string field from a guest or a
 * module is only a string if it does). */
static inline bool str_terminated(const char *s, size_t size) { return strnlen(s, size) < size; }
void clear_page(void *page); /* zeroes one 4 KiB page, 8 bytes at a time */
/*
 * Copies s into buf (size > 4) for the console: printable ASCII stays, a backslash and every
 * other byte become \xNN, so no string from a guest or a policy can start a line, move the
 * cursor or forge a hypervisor message. A string that does not fit ends in "...". Returns buf.
 */
const char *str_escape(char *buf, size_t size, const char *s);
/* Whether name is a domain name: 1 to DOMCTL_NAME_MAX - 1 bytes of A-Z a-z 0-9 _ . - (the tools'
 * rule too), NUL-terminated within `size` bytes. */
bool domain_name_valid(const char *name, size_t size);

#endif
