// SPDX-License-Identifier: MIT
// The extended CPU state of this domain (moat/xstate.h): what is enabled, and saving it whole.
#include <moat/guest.h>
#include <moat/xstate.h>

uint64_t upcall_xstate_size; /* 0 until xstate_init, which sets it with upcall_xstate_xsave */
uint8_t upcall_xstate_xsave;
static uint64_t xcr0;

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

void xstate_init(void)
{
    uint32_t r[4];
    cpuid(1, 0, r);
    bool osxsave = r[2] & (1u << 27); /* CR4.OSXSAVE as the hypervisor set it */
    if (osxsave) {
        uint32_t lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((uint64_t)hi << 32) | lo;
        cpuid(0xd, 0, r); /* ebx: the size for the components XCR0 enables */
        upcall_xstate_size = (r[1] + 63) & ~63ULL;
        upcall_xstate_xsave = 1;
    } else {
        xcr0 = 0;
        upcall_xstate_size = 512;
        upcall_xstate_xsave = 0;
    }
}

uint64_t xstate_xcr0(void) { return xcr0; }
bool xstate_have_avx(void) { return (xcr0 & 6) == 6; }
size_t xstate_area_size(void) { return upcall_xstate_size; }

void xstate_save(void *area)
{
    if (upcall_xstate_xsave) {
        /* XRSTOR wants the header's other fields zero; XSAVE writes only XSTATE_BV. */
        memset((uint8_t *)area + 512, 0, 64);
        __asm__ volatile("xsave64 (%0)" ::"r"(area), "a"(-1), "d"(-1) : "memory");
    } else {
        __asm__ volatile("fxsave64 (%0)" ::"r"(area) : "memory");
    }
}

void xstate_restore(const void *area)
{
    if (upcall_xstate_xsave)
        __asm__ volatile("xrstor64 (%0)" ::"r"(area), "a"(-1), "d"(-1) : "memory");
    else
        __asm__ volatile("fxrstor64 (%0)" ::"r"(area) : "memory");
}
