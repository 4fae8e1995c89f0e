// SPDX-License-Identifier: MIT
// printf-style formatting (lib/format.h): one engine, shared by the hypervisor (printk, snprintf)
// and the guest library (printf, snprintf), each compiling this file with its own flags.
#include <stdbool.h>
#include <stdint.h>

#include <lib/format.h>
#include <lib/string.h>

struct spec {
    bool left, zero, alt; /* flags '-', '0', '#' */
    unsigned width;
    int precision; /* -1: none; only limits %s */
};

/* Writes body (len characters) after prefix (a sign or 0x, possibly empty), padded to the width:
 * spaces before the prefix, or zeros after it, or spaces after the body when left-justified. */
static int emit_padded(format_sink_t sink, void *ctx, const struct spec *sp, const char *prefix, const char *body,
                       size_t len)
{
    int n = 0;
    size_t plen = strlen(prefix);
    size_t total = len + plen;
    size_t pad = sp->width > total ? sp->width - total : 0;
    bool zeros = sp->zero && !sp->left;

    if (!sp->left && !zeros)
        for (size_t i = 0; i < pad; i++)
            sink(ctx, ' '), n++;
    for (; *prefix; prefix++)
        sink(ctx, *prefix), n++;
    if (zeros)
        for (size_t i = 0; i < pad; i++)
            sink(ctx, '0'), n++;
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

int vformat(format_sink_t sink, void *ctx, const char *fmt, va_list ap)
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
            int width = va_arg(ap, int);
            if (width < 0) {
                sp.left = true;
                width = -width;
            }
            sp.width = (unsigned)width;
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                sp.width = sp.width * 10 + (unsigned)(*fmt++ - '0');
        }
        if (*fmt == '.') {
            sp.precision = 0;
            if (*++fmt == '*') {
                int prec = va_arg(ap, int);
                sp.precision = prec < 0 ? -1 : prec;
                fmt++;
            } else {
                for (; *fmt >= '0' && *fmt <= '9'; fmt++)
                    sp.precision = sp.precision * 10 + (*fmt - '0');
            }
        }
        int longs = 0; /* 0: int; l, ll, z: 64 bits (long, long long and size_t are all 64-bit here) */
        for (; *fmt == 'l' || *fmt == 'z'; fmt++)
            longs++;

        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            size_t len = sp.precision >= 0 ? strnlen(s, (size_t)sp.precision) : strlen(s);
            sp.zero = false;
            n += emit_padded(sink, ctx, &sp, "", s, len);
            break;
        }
        case 'c':
            buf[0] = (char)va_arg(ap, int);
            sp.zero = false;
            n += emit_padded(sink, ctx, &sp, "", buf, 1);
            break;
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
            n += emit_padded(sink, ctx, &sp, v < 0 ? "-" : "", buf, utoa(mag, 10, false, buf));
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            unsigned base = *fmt == 'u' ? 10 : 16;
            const char *prefix = base == 16 && sp.alt ? (*fmt == 'X' ? "0X" : "0x") : "";
            n += emit_padded(sink, ctx, &sp, prefix, buf, utoa(v, base, *fmt == 'X', buf));
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            n += emit_padded(sink, ctx, &sp, "0x", buf, utoa(v, 16, false, buf));
            break;
        }
        case '%':
            sink(ctx, '%'), n++;
            break;
        case '\0': /* a lone '%' at the end: printed as written */
            sink(ctx, '%'), n++;
            return n;
        default: /* unknown conversion: show it rather than guess at its argument */
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
    int n = vformat(buf_put, &b, fmt, ap);
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
