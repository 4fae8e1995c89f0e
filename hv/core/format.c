// SPDX-License-Identifier: MIT
// printf-style formatting: %s %c %d %i %u %x %X %p %%, with flags '-' and '0', a width,
// and the length modifiers l, ll, z. One core (format) serves the console and snprintf.
#include <moat/console.h>
#include <moat/lib.h>

struct spec {
    bool left, zero;
    unsigned width;
    int precision; /* -1: none; only limits %s */
};

static int emit_padded(void (*sink)(void *, char), void *ctx, const struct spec *sp, const char *body, size_t len,
                       char sign)
{
    int n = 0;
    size_t total = len + (sign ? 1 : 0);
    size_t pad = sp->width > total ? sp->width - total : 0;
    char padc = sp->zero && !sp->left ? '0' : ' ';

    if (sign && padc == '0')
        sink(ctx, sign), n++;
    if (!sp->left)
        for (size_t i = 0; i < pad; i++)
            sink(ctx, padc), n++;
    if (sign && padc != '0')
        sink(ctx, sign), n++;
    for (size_t i = 0; i < len; i++)
        sink(ctx, body[i]), n++;
    if (sp->left)
        for (size_t i = 0; i < pad; i++)
            sink(ctx, ' '), n++;
    return n;
}

static size_t utoa(uint64_t v, unsigned base, bool upper, char *buf /* >= 24 */)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

int format(void (*sink)(void *ctx, char c), void *ctx, const char *fmt, va_list ap)
{
    int n = 0;
    char buf[24];

    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            sink(ctx, *fmt), n++;
            continue;
        }
        struct spec sp = {.precision = -1};
        fmt++;
        for (; *fmt == '-' || *fmt == '0'; fmt++) {
            if (*fmt == '-')
                sp.left = true;
            else
                sp.zero = true;
        }
        while (*fmt >= '0' && *fmt <= '9')
            sp.width = sp.width * 10 + (unsigned)(*fmt++ - '0');
        if (*fmt == '.') {
            sp.precision = 0;
            if (*++fmt == '*') {
                int prec = va_arg(ap, int);
                sp.precision = prec < 0 ? -1 : prec;
                fmt++;
            }
            for (; *fmt >= '0' && *fmt <= '9'; fmt++)
                sp.precision = sp.precision * 10 + (*fmt - '0');
        }
        int longs = 0;
        while (*fmt == 'l')
            longs++, fmt++;
        if (*fmt == 'z')
            longs = 2, fmt++;

        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            size_t len = sp.precision >= 0 ? strnlen(s, (size_t)sp.precision) : strlen(s);
            sp.zero = false;
            n += emit_padded(sink, ctx, &sp, s, len, 0);
            break;
        }
        case 'c':
            buf[0] = (char)va_arg(ap, int);
            sp.zero = false;
            n += emit_padded(sink, ctx, &sp, buf, 1, 0);
            break;
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            n += emit_padded(sink, ctx, &sp, buf, utoa(mag, 10, false, buf), v < 0 ? '-' : 0);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            unsigned base = *fmt == 'u' ? 10 : 16;
            n += emit_padded(sink, ctx, &sp, buf, utoa(v, base, *fmt == 'X', buf), 0);
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            sink(ctx, '0'), sink(ctx, 'x'), n += 2;
            sp.zero = true;
            sp.width = 16;
            n += emit_padded(sink, ctx, &sp, buf, utoa(v, 16, false, buf), 0);
            break;
        }
        case '%':
            sink(ctx, '%'), n++;
            break;
        case '\0':
            return n; /* a lone '%' at the end */
        default:      /* unknown conversion: show it rather than guess at its argument */
            sink(ctx, '%'), sink(ctx, *fmt), n += 2;
            break;
        }
    }
    return n;
}

struct buf_sink {
    char *buf;
    size_t size, pos;
};

static void buf_put(void *ctx, char c)
{
    struct buf_sink *b = ctx;
    if (b->pos + 1 < b->size)
        b->buf[b->pos] = c;
    b->pos++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct buf_sink b = {buf, size, 0};
    int n = format(buf_put, &b, fmt, ap);
    if (size)
        buf[b.pos < size ? b.pos : size - 1] = '\0';
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
