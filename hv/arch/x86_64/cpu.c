// SPDX-License-Identifier: MIT
// CPU features: find out what the CPU offers and switch on the protections we rely on
// (NX, SMEP, SMAP, UMIP, global pages) when it has them.
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/x86.h>

struct cpu_features cpu_features;
struct percpu percpu0;

void cpu_detect_and_enable(void)
{
    uint32_t a, b, c, d, max;
    cpuid(0, 0, &max, &b, &c, &d);
    cpuid(1, 0, &a, &b, &c, &d);
    cpu_features.pge = d & (1u << 13);
    if (max >= 7) {
        cpuid(7, 0, &a, &b, &c, &d);
        cpu_features.smep = b & (1u << 7);
        cpu_features.smap = b & (1u << 20);
        cpu_features.umip = c & (1u << 2);
    }
    cpuid(0x80000001, 0, &a, &b, &c, &d);
    cpu_features.nx = d & (1u << 20);
    cpu_features.syscall = d & (1u << 11);

    if (cpu_features.nx)
        wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
    uint64_t cr4 = read_cr4();
    if (cpu_features.pge)
        cr4 |= CR4_PGE;
    if (cpu_features.smep)
        cr4 |= CR4_SMEP;
    if (cpu_features.smap)
        cr4 |= CR4_SMAP;
    if (cpu_features.umip)
        cr4 |= CR4_UMIP;
    write_cr4(cr4);
    write_cr0(read_cr0() | CR0_WP);
}
