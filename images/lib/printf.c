// SPDX-License-Identifier: MIT
// printf: the shared formatting engine (hv/lib/format.c) writing to the line-buffered console.
#include <moat/console.h>
#include <moat/printf.h>

static void console_sink(void *ctx, char c)
{
    (void)ctx;
    console_putc(c);
}

int vprintf(const char *fmt, va_list ap)
{
    return vformat(console_sink, NULL, fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}
