// SPDX-License-Identifier: MIT
// The hypervisor's own memory helpers (the C library's string functions are in hv/lib/string.c).
#include <moat/config.h>
#include <moat/lib.h>

void clear_page(void *page)
{
    size_t words = PAGE_SIZE / 8;
    __asm__ volatile("rep stosq" : "+D"(page), "+c"(words) : "a"(0UL) : "memory");
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
