// SPDX-License-Identifier: MIT
// String functions for freestanding code, shared by the hypervisor and the guest runtime library
// (each compiles this file with its own flags). memset/memcpy/memmove use the string
// instructions, eight bytes at a time for the bulk and a byte at a time for the tail of fewer than
// eight: the fast-string microcode makes `rep movsq` as fast as `rep movsb` on real CPUs, and under
// icount each iteration counts as one instruction, so a 4 KiB copy is 512 of them, not 4,096. The
// compiler cannot turn the string instructions back into a call to the function being compiled.
// Never used by the hypervisor on guest memory: that goes through copy_user, which recovers from
// faults.
#include <stdint.h>

#include <lib/string.h>

void *memset(void *dst, int c, size_t n)
{
    void *d = dst;
    size_t words = n >> 3, tail = n & 7;
    uint64_t pattern = (uint64_t)(uint8_t)c * 0x0101010101010101ULL;
    __asm__ volatile("rep stosq\n\t"
                     "movq %[tail], %%rcx\n\t"
                     "rep stosb"
                     : "+D"(d), "+c"(words)
                     : "a"(pattern), [tail] "r"(tail)
                     : "memory");
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    void *d = dst;
    size_t words = n >> 3, tail = n & 7;
    __asm__ volatile("rep movsq\n\t"
                     "movq %[tail], %%rcx\n\t"
                     "rep movsb"
                     : "+D"(d), "+S"(src), "+c"(words)
                     : [tail] "r"(tail)
                     : "memory");
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    if ((uintptr_t)dst <= (uintptr_t)src || (uintptr_t)dst >= (uintptr_t)src + n)
        return memcpy(dst, src, n);
    /* Overlapping with the destination above: copy backwards, the last whole words first, then the
     * head of fewer than eight bytes (the direction flag set only inside this one statement). */
    size_t words = n >> 3, head = n & 7;
    void *d = (char *)dst + n - 8;
    const void *s = (const char *)src + n - 8;
    __asm__ volatile("std\n\t"
                     "rep movsq\n\t"
                     "addq $7, %%rdi\n\t"
                     "addq $7, %%rsi\n\t"
                     "movq %[head], %%rcx\n\t"
                     "rep movsb\n\t"
                     "cld"
                     : "+D"(d), "+S"(s), "+c"(words)
                     : [head] "r"(head)
                     : "memory");
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

size_t strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            break;
    }
    return 0;
}

size_t strlcpy(char *restrict dst, const char *restrict src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}
