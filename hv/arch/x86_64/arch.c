// SPDX-License-Identifier: MIT
// The x86-64 steps of hv_main's bring-up (moat/arch.h), in their dependency order.
#include <moat/apic.h>
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/smp.h>
#include <moat/timer.h>
#include <moat/xsave.h>
#include <lib/sha256.h>

void arch_init_boot_cpu(void)
{
    gdt_load(&percpus[0]); /* not this_cpu(): it may not be read before percpu_init_boot_cpu */
    idt_init();
    cpu_detect_and_enable();
    printk("cpu: nx=%d smep=%d smap=%d umip=%d pge=%d\n", cpu_features.nx, cpu_features.smep, cpu_features.smap,
           cpu_features.umip, cpu_features.pge);
    printk("cpu: sha256 %s\n", sha256_arch_in_use() ? "sha-ni" : "portable");
}

void arch_init_late(void)
{
    xsave_init();
    lapic_init();
    timer_init();
    syscall_init();
    smp_boot();
}
