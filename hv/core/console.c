// SPDX-License-Identifier: MIT
// The hypervisor console (printk) on top of the serial port.
#include <moat/console.h>

static void console_sink(void *ctx, char c)
{
    (void)ctx;
    if (c == '\n')
        serial_putc('\r');
    serial_putc(c);
}

void console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        console_sink(NULL, s[i]);
}

int vprintk(const char *fmt, va_list ap) { return format(console_sink, NULL, fmt, ap); }

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintk(fmt, ap);
    va_end(ap);
    return n;
}
