/* SPDX-License-Identifier: MIT */
/*
 * An XTF-style test framework. A test image defines
 *
 *     void test_main(void)
 *
 * and reports with the xtf_* functions below. The result only ratchets up:
 * SUCCESS < SKIP < ERROR < FAILURE (a later xtf_success cannot hide an earlier failure). When
 * test_main returns (or xtf_exit is called) the framework prints exactly one line
 *
 *     Test result: SUCCESS|SKIP|ERROR|FAILURE
 *
 * and shuts the domain down: reason poweroff for SUCCESS and SKIP, crash for ERROR and FAILURE.
 * A test_main that returns without reporting anything ends with ERROR.
 *
 * Messages are printed as given (a newline is added when missing). Use FAILURE for "the thing
 * under test misbehaved", ERROR for "the test itself could not run properly" (a set-up step
 * failed), SKIP for "not applicable here".
 */
#ifndef MOAT_GUEST_TEST_H
#define MOAT_GUEST_TEST_H

#include <stdbool.h>

#include <moat/guest.h>

enum xtf_result {
    XTF_RUNNING = -1, /* nothing reported yet */
    XTF_SUCCESS = 0,
    XTF_SKIP = 1,
    XTF_ERROR = 2,
    XTF_FAILURE = 3,
};

void test_main(void);

/* Each records its result (ratcheting) and prints the message; fmt may be NULL for no message. */
void xtf_success(const char *fmt, ...) PRINTF_LIKE(1, 2);
void xtf_skip(const char *fmt, ...) PRINTF_LIKE(1, 2);
void xtf_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
void xtf_failure(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* Prints the result line and shuts down now. */
__attribute__((noreturn)) void xtf_exit(void);

enum xtf_result xtf_result(void);
const char *xtf_result_name(enum xtf_result result);

/* Runs fn (test_main) and then xtf_exit; called by the start-up code. */
__attribute__((noreturn)) void xtf_run(void (*fn)(void));

/*
 * CHECK-style helpers. xtf_check records a FAILURE when cond is false and goes on (it evaluates to
 * cond); xtf_assert records a FAILURE and ends the test at once.
 */
#define xtf_check(cond, fmt, ...)                                                              \
    ({                                                                                         \
        bool xtf_ok_ = (cond);                                                                 \
        if (!xtf_ok_)                                                                          \
            xtf_failure("Fail: %s:%d: " fmt, __FILE__, __LINE__, ##__VA_ARGS__);               \
        xtf_ok_;                                                                               \
    })

#define xtf_assert(cond, fmt, ...)                                                             \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            xtf_failure("Fail: %s:%d: " fmt, __FILE__, __LINE__, ##__VA_ARGS__);               \
            xtf_exit();                                                                        \
        }                                                                                      \
    } while (0)

/* xtf_check for integers: prints both values. */
#define xtf_check_eq(actual, expected)                                                         \
    ({                                                                                         \
        long xtf_a_ = (long)(actual), xtf_e_ = (long)(expected);                               \
        xtf_check(xtf_a_ == xtf_e_, "%s is %ld (%#lx), expected %s = %ld", #actual, xtf_a_,    \
                  (unsigned long)xtf_a_, #expected, xtf_e_);                                   \
    })

#endif
