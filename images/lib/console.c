// SPDX-License-Identifier: MIT
// Line-buffered console output through console_io.
#include <moat/guest.h>

static char line[CONSOLE_LINE_MAX];
static size_t line_len;

long console_write(const char *buf, size_t len)
{
    while (len) {
        size_t chunk = len < CONSOLEIO_MAX ? len : CONSOLEIO_MAX;
        long rc = HYPERVISOR_console_io(CONSOLEIO_write, chunk, buf);
        if (rc < 0)
            return rc;
        buf += chunk;
        len -= chunk;
    }
    return 0;
}

void console_flush(void)
{
    if (line_len) {
        console_write(line, line_len);
        line_len = 0;
    }
}

void console_putc(char c)
{
    line[line_len++] = c;
    if (c == '\n' || line_len == sizeof(line))
        console_flush();
}

void console_puts(const char *s)
{
    while (*s)
        console_putc(*s++);
}
