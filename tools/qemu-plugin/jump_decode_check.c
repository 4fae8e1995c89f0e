/* SPDX-License-Identifier: MIT */
/*
 * Test driver of jump_decode.c (tests/quality/test_coverage_tools.py): for each argument
 * ADDR:WRAP32:HEXBYTES prints "TAKEN FALL" in hex when the bytes are a conditional jump at ADDR,
 * "none" when they are not, "bad" when the argument cannot be read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jump_decode.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static int check_one(const char *arg)
{
    char *end;
    uint64_t addr = strtoull(arg, &end, 16);
    uint8_t code[16];
    size_t len = 0;

    if (end == arg || end[0] != ':' || (end[1] != '0' && end[1] != '1') || end[2] != ':') {
        return -1;
    }
    int wrap32 = end[1] == '1';
    for (const char *p = end + 3; *p != '\0'; p += 2) {
        int hi = hex_digit(p[0]);
        int lo = hi < 0 ? -1 : hex_digit(p[1]);
        if (lo < 0 || len == sizeof(code)) {
            return -1;
        }
        code[len++] = (uint8_t)(hi << 4 | lo);
    }
    struct cond_jump j;
    if (decode_cond_jump(code, len, addr, wrap32, &j)) {
        printf("%" PRIx64 " %" PRIx64 "\n", j.taken, j.fall);
    } else {
        printf("none\n");
    }
    return 0;
}

int main(int argc, char **argv)
{
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (check_one(argv[i]) != 0) {
            printf("bad\n");
            status = 2;
        }
    }
    return status;
}
