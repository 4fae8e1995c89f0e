// SPDX-License-Identifier: MIT
// Host driver for hv/lib/string.c, compiled with its functions renamed (moat_memmove, ...: see
// tests/host/SConscript) so that the C library's own stay in use here. Every length up
// to 80 bytes at every source and destination offset in a 192-byte buffer, overlapping either
// way, against a byte-at-a-time model; the direction flag must be clear after each call, since
// the compiler's own code assumes it is. Prints "ok" and exits 0, or names the first mismatch.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void *moat_memset(void *dst, int c, size_t n);
void *moat_memcpy(void *restrict dst, const void *restrict src, size_t n);
void *moat_memmove(void *dst, const void *src, size_t n);

#define SIZE 192
#define MAX_N 80

static unsigned char buf[SIZE], model[SIZE];

static void fill(void)
{
    for (unsigned i = 0; i < SIZE; i++)
        buf[i] = model[i] = (unsigned char)(i * 7 + 1);
}

static int direction_flag(void)
{
    uint64_t flags;
    __asm__ volatile("pushfq; popq %0" : "=r"(flags));
    return (int)((flags >> 10) & 1);
}

static int same(const char *what, unsigned d, unsigned s, unsigned n)
{
    for (unsigned i = 0; i < SIZE; i++)
        if (buf[i] != model[i]) {
            printf("%s dst=+%u src=+%u n=%u: byte %u is %u, not %u\n", what, d, s, n, i, buf[i], model[i]);
            return 0;
        }
    if (direction_flag()) {
        printf("%s dst=+%u src=+%u n=%u: the direction flag is left set\n", what, d, s, n);
        return 0;
    }
    return 1;
}

int main(void)
{
    for (unsigned n = 0; n <= MAX_N; n++)
        for (unsigned d = 0; d + n <= SIZE; d++)
            for (unsigned s = 0; s + n <= SIZE; s++) {
                fill();
                unsigned char tmp[MAX_N];
                for (unsigned i = 0; i < n; i++)
                    tmp[i] = model[s + i];
                for (unsigned i = 0; i < n; i++)
                    model[d + i] = tmp[i];
                if (moat_memmove(buf + d, buf + s, n) != buf + d || !same("memmove", d, s, n))
                    return 1;
                if (d + n <= s || s + n <= d) { /* memcpy: no overlap */
                    fill();
                    for (unsigned i = 0; i < n; i++)
                        model[d + i] = model[s + i];
                    if (moat_memcpy(buf + d, buf + s, n) != buf + d || !same("memcpy", d, s, n))
                        return 1;
                }
            }
    for (unsigned n = 0; n <= MAX_N; n++)
        for (unsigned d = 0; d + n <= SIZE; d++) {
            fill();
            for (unsigned i = 0; i < n; i++)
                model[d + i] = 0xa5;
            if (moat_memset(buf + d, 0x1a5, n) != buf + d || !same("memset", d, 0, n))
                return 1;
        }
    puts("ok");
    return 0;
}
