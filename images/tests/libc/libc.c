// SPDX-License-Identifier: MIT
// The runtime's own C library: snprintf conversions, widths, flags and truncation, and the
// string functions, checked against the values the C standard gives.
#include <moat/test.h>

#define CHECK_FMT(expected, ...)                                                               \
    do {                                                                                       \
        char buf_[64];                                                                         \
        int n_ = snprintf(buf_, sizeof(buf_), __VA_ARGS__);                                    \
        xtf_check(strcmp(buf_, expected) == 0 && n_ == (int)strlen(expected),                  \
                  "snprintf(%s) gave \"%s\" (%d), expected \"%s\"", #__VA_ARGS__, buf_, n_,    \
                  expected);                                                                   \
    } while (0)

static void check_printf(void)
{
    CHECK_FMT("x", "x");
    CHECK_FMT("42 -42 42", "%d %i %u", 42, -42, 42u);
    CHECK_FMT("-2147483648", "%d", (int)-2147483647 - 1);
    CHECK_FMT("-9223372036854775808", "%ld", (long)(-9223372036854775807L - 1));
    CHECK_FMT("18446744073709551615", "%lu", ~0UL);
    CHECK_FMT("ff FF 0xff", "%x %X %#x", 255u, 255u, 255u);
    CHECK_FMT("ffffffffffffffff", "%lx", ~0UL);
    CHECK_FMT("123", "%zu", (size_t)123);
    CHECK_FMT("0x400000", "%p", (void *)0x400000);
    CHECK_FMT("[   7] [7   ] [0007] [-007]", "[%4d] [%-4d] [%04d] [%04d]", 7, 7, 7, -7);
    CHECK_FMT("[  ab] [ab  ]", "[%4s] [%-4s]", "ab", "ab");
    CHECK_FMT("[abc] [  ab]", "[%.3s] [%*.*s]", "abcdef", 4, 2, "abcdef");
    const char *volatile nothing = NULL;  // volatile: gcc rejects a literal NULL for %s
    CHECK_FMT("c% (null)", "%c%% %s", 'c', nothing);
    CHECK_FMT("0000cafe", "%08lx", 0xcafeUL);
    CHECK_FMT("[0x00ff] [  0XFF] [-7  ]", "[%#06x] [%#6X] [%-*d]", 255u, 255u, -4, -7);

    char small[5];
    int n = snprintf(small, sizeof(small), "%s", "truncated");
    xtf_check(n == 9 && strcmp(small, "trun") == 0, "truncation: %d '%s'", n, small);
    xtf_check_eq(snprintf(NULL, 0, "%d", 12345), 5);
}

static void check_strings(void)
{
    char a[16], b[16];

    memset(a, 'x', sizeof(a));
    xtf_check(a[0] == 'x' && a[15] == 'x', "memset");
    memcpy(b, "hello, world", 13);
    xtf_check(strcmp(b, "hello, world") == 0, "memcpy");
    memmove(b + 2, b, 6);  // overlapping, forwards
    xtf_check(memcmp(b, "hehello,orld", 12) == 0, "memmove up: %.12s", b);
    memmove(b, b + 2, 6);  // overlapping, backwards
    xtf_check(memcmp(b, "hello,o,orld", 12) == 0, "memmove down: %.12s", b);
    xtf_check(memcmp("abc", "abd", 3) < 0 && memcmp("abd", "abc", 3) > 0 && memcmp("ab", "ab", 2) == 0,
              "memcmp");
    xtf_check_eq(strlen(""), 0);
    xtf_check_eq(strlen("four"), 4);
    xtf_check_eq(strnlen("four", 2), 2);
    xtf_check(strcmp("a", "b") < 0 && strcmp("b", "a") > 0 && strcmp("same", "same") == 0, "strcmp");
    xtf_check(strcmp("\xff", "a") > 0, "strcmp compares unsigned chars");
    xtf_check(strncmp("abcX", "abcY", 3) == 0 && strncmp("abcX", "abcY", 4) < 0, "strncmp");
    xtf_check_eq(strlcpy(a, "longer than eight", 8), 17);
    xtf_check(strcmp(a, "longer ") == 0, "strlcpy truncates and terminates: '%s'", a);
}

void test_main(void)
{
    check_printf();
    check_strings();
    xtf_success(NULL);
}
