/* SPDX-License-Identifier: MIT */
#include "jump_decode.h"

/* Prefixes a compiler or an assembler may put before a conditional jump without changing
 * where it goes: the branch hints (0x2e, 0x3e, also segment overrides) and MPX's bnd (0xf2). */
static int is_harmless_prefix(uint8_t b)
{
    return b == 0x2e || b == 0x3e || b == 0xf2;
}

int decode_cond_jump(const uint8_t *code, size_t len, uint64_t addr, int wrap32, struct cond_jump *out)
{
    size_t i = 0;
    int64_t disp;

    /* 0x67 (address size) only changes which counter jrcxz/loop test, not the target. */
    while (i < len && (is_harmless_prefix(code[i]) || code[i] == 0x67)) {
        i++;
    }
    if (i >= len) {
        return 0;
    }
    if ((code[i] >= 0x70 && code[i] <= 0x7f) || (code[i] >= 0xe0 && code[i] <= 0xe3)) {
        if (len != i + 2) {
            return 0;
        }
        disp = (int8_t)code[i + 1];
    } else if (code[i] == 0x0f && i + 1 < len && code[i + 1] >= 0x80 && code[i + 1] <= 0x8f) {
        if (len != i + 6) {
            return 0;
        }
        /* little-endian rel32, sign-extended */
        uint32_t raw = (uint32_t)code[i + 2] | (uint32_t)code[i + 3] << 8 | (uint32_t)code[i + 4] << 16 |
                       (uint32_t)code[i + 5] << 24;
        disp = (int32_t)raw;
    } else {
        return 0;
    }
    out->fall = addr + len;
    out->taken = out->fall + (uint64_t)disp;
    if (wrap32) {
        out->fall &= 0xffffffffu;
        out->taken &= 0xffffffffu;
    }
    return 1;
}
