// SPDX-License-Identifier: MIT
// A small printf: one formatter writing through a sink, used by vsnprintf and by the console.
#include <stdbool.h>
#include <stdint.h>

#include <moat/console.h>
#include <moat/printf.h>
#include <moat/string.h>

struct sink {
    void (*put)(struct sink *s, char c);
    char *buf;     // vsnprintf: destination
    size_t size;   // vsnprintf: capacity including the NUL
    size_t count;  // characters produced so far (also past the capacity)
};

static void emit(struct sink *s, char c)
{
    s->put(s, c);
    s->count++;
}

static void emit_padding(struct sink *s, char c, int n)
{
    while (n-- > 0)
        emit(s, c);
}

struct spec {
    bool left;     // '-'
    bool zero;     // '0'
    bool alt;      // '#': 0x prefix for %x
    int width;
    int precision; // -1: none
};

// Writes text (already converted) with its sign/prefix, honouring width, '-' and '0'.
static void emit_field(struct sink *s, const struct spec *sp, const char *prefix, const char *text,
                       int len)
{
    int plen = (int)strlen(prefix);
    int pad = sp->width - plen - len;

    if (!sp->left && !sp->zero)
        emit_padding(s, ' ', pad);
    while (*prefix)
        emit(s, *prefix++);
    if (!sp->left && sp->zero)
        emit_padding(s, '0', pad);
    for (int i = 0; i < len; i++)
        emit(s, text[i]);
    if (sp->left)
        emit_padding(s, ' ', pad);
}

static void emit_number(struct sink *s, const struct spec *sp, uint64_t value, bool negative,
                        unsigned base, bool upper, const char *prefix)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int len = 0;

    do {
        tmp[sizeof(tmp) - 1 - len++] = digits[value % base];
        value /= base;
    } while (value);
    emit_field(s, sp, negative ? "-" : prefix, tmp + sizeof(tmp) - len, len);
}

static int format(struct sink *s, const char *fmt, va_list ap)
{
    while (*fmt) {
        if (*fmt != '%') {
            emit(s, *fmt++);
            continue;
        }
        fmt++;
        struct spec sp = { .precision = -1 };
        for (;; fmt++) {
            if (*fmt == '-')
                sp.left = true;
            else if (*fmt == '0')
                sp.zero = true;
            else if (*fmt == '#')
                sp.alt = true;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = true;
                sp.width = -sp.width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                sp.width = sp.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            sp.precision = 0;
            if (*fmt == '*') {
                sp.precision = va_arg(ap, int);
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    sp.precision = sp.precision * 10 + (*fmt++ - '0');
            }
        }
        if (sp.left)
            sp.zero = false;
        int longs = 0;  // 0: int, 1: long / size_t (both 64-bit here), 2: long long
        while (*fmt == 'l' || *fmt == 'z') {
            longs++;
            fmt++;
        }

        char conv = *fmt ? *fmt++ : '\0';
        switch (conv) {
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            // Negate in unsigned arithmetic so INT64_MIN works.
            emit_number(s, &sp, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0, 10, false, "");
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
            unsigned base = conv == 'u' ? 10 : 16;
            const char *prefix = base == 16 && sp.alt ? (conv == 'X' ? "0X" : "0x") : "";
            emit_number(s, &sp, v, false, base, conv == 'X', prefix);
            break;
        }
        case 'p':
            emit_number(s, &sp, (uint64_t)(uintptr_t)va_arg(ap, void *), false, 16, false, "0x");
            break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            emit_field(s, &sp, "", &c, 1);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            size_t len = sp.precision >= 0 ? strnlen(str, (size_t)sp.precision) : strlen(str);
            sp.zero = false;
            emit_field(s, &sp, "", str, (int)len);
            break;
        }
        case '%':
            emit(s, '%');
            break;
        case '\0':
            emit(s, '%');
            break;
        default:  // unknown conversion: show it as written
            emit(s, '%');
            emit(s, conv);
            break;
        }
    }
    return (int)s->count;
}

static void put_buffer(struct sink *s, char c)
{
    if (s->count + 1 < s->size)
        s->buf[s->count] = c;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct sink s = { .put = put_buffer, .buf = buf, .size = size };
    int n = format(&s, fmt, ap);
    if (size)
        buf[s.count < size ? s.count : size - 1] = '\0';
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

static void put_console(struct sink *s, char c)
{
    (void)s;
    console_putc(c);
}

int vprintf(const char *fmt, va_list ap)
{
    struct sink s = { .put = put_console };
    return format(&s, fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}
