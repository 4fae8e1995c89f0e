/* SPDX-License-Identifier: MIT */
/*
 * The string and memory functions of the C library, for freestanding code: one implementation
 * (hv/lib/string.c) that the hypervisor and the guest runtime library each compile with their
 * own flags. The C library's names and semantics (strlcpy: BSD's).
 */
#ifndef MOAT_LIB_STRING_H
#define MOAT_LIB_STRING_H

#include <stddef.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* Copies at most size-1 bytes and always terminates (when size > 0); returns strlen(src). */
size_t strlcpy(char *restrict dst, const char *restrict src, size_t size);

#endif
