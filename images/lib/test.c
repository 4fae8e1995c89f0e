// SPDX-License-Identifier: MIT
// The XTF-style test framework: a ratcheting result, the "Test result:" line, then shutdown.
#include <moat/test.h>

static enum xtf_result result = XTF_RUNNING;

static const char *const names[] = {
    [XTF_SUCCESS] = "SUCCESS",
    [XTF_SKIP] = "SKIP",
    [XTF_ERROR] = "ERROR",
    [XTF_FAILURE] = "FAILURE",
};

const char *xtf_result_name(enum xtf_result r)
{
    return r >= XTF_SUCCESS && r <= XTF_FAILURE ? names[r] : "RUNNING";
}

enum xtf_result xtf_result(void)
{
    return result;
}

static void report(enum xtf_result r, const char *fmt, va_list ap)
{
    if (r > result)
        result = r;
    if (fmt && *fmt) {
        vprintf(fmt, ap);
        if (fmt[strlen(fmt) - 1] != '\n')
            console_putc('\n');
    }
}

#define DEFINE_REPORT(fn, value)                                                               \
    void fn(const char *fmt, ...)                                                              \
    {                                                                                          \
        va_list ap;                                                                            \
        va_start(ap, fmt);                                                                     \
        report(value, fmt, ap);                                                                \
        va_end(ap);                                                                            \
    }

DEFINE_REPORT(xtf_success, XTF_SUCCESS)
DEFINE_REPORT(xtf_skip, XTF_SKIP)
DEFINE_REPORT(xtf_error, XTF_ERROR)
DEFINE_REPORT(xtf_failure, XTF_FAILURE)

void xtf_exit(void)
{
    if (result == XTF_RUNNING) {
        printf("test_main returned without reporting a result\n");
        result = XTF_ERROR;
    }
    // Exactly one result line, sent in one console_io call: the hypervisor records it.
    console_flush();
    printf("Test result: %s\n", names[result]);
    console_flush();
    exit(result <= XTF_SKIP ? 0 : 1);
}

void xtf_run(void (*fn)(void))
{
    fn();
    xtf_exit();
}
