// SPDX-License-Identifier: MIT
// Random numbers from the CPU: RDRAND, where CPUID.1:ECX.RDRAND says it exists. Under QEMU's TCG
// it comes from the host, or from QEMU's `-seed` when given (reproducible runs).
#include <moat/random.h>
#include <moat/x86.h>

#define CPUID1_ECX_RDRAND (1u << 30)

bool arch_random_u64(uint64_t *out)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(c & CPUID1_ECX_RDRAND))
        return false;
    /* Intel's advice: a few retries, as the generator may be momentarily drained. */
    for (int tries = 0; tries < 16; tries++) {
        /* cppcheck-suppress variableScope ; written by the asm below, with ok */
        uint64_t v;
        uint8_t ok;
        __asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok)::"cc");
        if (ok) {
            *out = v;
            return true;
        }
    }
    return false;
}
