// SPDX-License-Identifier: MIT
// The hypervisor's own memory helpers (the C library's string functions are in hv/lib/string.c).
#include <moat/config.h>
#include <moat/lib.h>

const char *str_escape(char *buf, size_t size, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = c >= 0x20 && c <= 0x7e && c != '\\';
        size_t need = plain ? 1 : 4;
        if (o + need + 4 > size) { /* room for this, "..." and the NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
    return buf;
}

bool domain_name_valid(const char *name, size_t size)
{
    size_t n = 0;
    for (; n < size && name[n]; n++) {
        char c = name[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    }
    return n >= 1 && n < size && n <= 31;
}

uint32_t crc32(const void *data, size_t n)
{
    /* IEEE 802.3, reflected, as zlib.crc32 computes it; bitwise (only run on boot data). */
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}
