/* SPDX-License-Identifier: MIT */
/* The string and memory functions the hypervisor uses (there is no libc). */
#ifndef MOAT_LIB_H
#define MOAT_LIB_H

#include <moat/types.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* Copies at most size-1 characters and always terminates (when size > 0); returns strlen(src). */
size_t strlcpy(char *dst, const char *src, size_t size);
uint32_t crc32(const void *data, size_t n);
void clear_page(void *page); /* zeroes one 4 KiB page, 8 bytes at a time */

#endif
