// SPDX-License-Identifier: MIT
// The SHA extensions behind hv/lib/sha256.c (sha256_arch_blocks): used when the boot CPU has
// them, from the very first hash (the measured launch hashes the hypervisor image before the
// rest of the CPU is set up, so SSE is switched on here for it), and never on a CPU that lacks
// them (cpu_enable_on_ap refuses such an AP: the choice is made once, for the whole machine).
#include <lib/sha256.h>
#include <moat/x86.h>

/* sha256_ni.S: n >= 1 whole blocks, the guest's xmm0-xmm7 preserved. */
void sha256_ni_blocks(uint32_t h[8], const uint8_t *blocks, size_t n);

static bool sha_ni; /* set once by the boot CPU, before any other CPU runs */

#define CPUID1_ECX_SSSE3 (1u << 9)
#define CPUID1_ECX_SSE41 (1u << 19)
#define CPUID7_EBX_SHA (1u << 29)

/* What sha256_ni.S needs: the SHA instructions, pshufb and palignr (SSSE3), pblendw (SSE4.1). */
static bool cpu_has_sha_ni(void)
{
    uint32_t a, b, c, d, max;
    cpuid(0, 0, &max, &b, &c, &d);
    if (max < 7)
        return false;
    cpuid(1, 0, &a, &b, &c, &d);
    uint32_t ecx1 = c;
    cpuid(7, 0, &a, &b, &c, &d);
    return (ecx1 & CPUID1_ECX_SSSE3) && (ecx1 & CPUID1_ECX_SSE41) && (b & CPUID7_EBX_SHA);
}

void sha256_arch_init(void)
{
    if (!cpu_has_sha_ni())
        return;
    /* SSE on (xsave.c sets the same bits again for the guests), the FPU present and not lazy. */
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    write_cr0(read_cr0() & ~(uint64_t)(CR0_EM | CR0_TS));
    sha_ni = true;
}

bool sha256_arch_in_use(void)
{
    return sha_ni;
}

bool sha256_arch_cpu_ok(void)
{
    return !sha_ni || cpu_has_sha_ni();
}

bool sha256_arch_blocks(uint32_t h[8], const uint8_t *blocks, size_t n)
{
    if (!sha_ni)
        return false;
    sha256_ni_blocks(h, blocks, n);
    return true;
}
