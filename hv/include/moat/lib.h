/* SPDX-License-Identifier: MIT */
/* The string and memory functions the hypervisor uses (there is no libc): the shared ones, and its own. */
#ifndef MOAT_LIB_H
#define MOAT_LIB_H

#include <lib/string.h>
#include <moat/types.h>

uint32_t crc32(const void *data, size_t n);
void clear_page(void *page); /* zeroes one 4 KiB page, 8 bytes at a time */

#endif
