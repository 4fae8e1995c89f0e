// SPDX-License-Identifier: MIT
// hv_main: bring the machine up in dependency order, say what we found, and run.
#include <moat/arch.h>
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/meter.h>
#include <moat/quota.h>
#include <moat/multiboot.h>
#include <moat/manifest.h>
#include <moat/measure.h>
#include <moat/mitigate.h>
#include <moat/sched.h>
#include <moat/selftest.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <moat/xsm.h>
#include <lib/sha256.h>

extern char _image_start_phys[], _bss_end_phys[];

static void print_frames(void)
{
    struct frame_stats s;
    frame_get_stats(&s);
    printk("frames: total=%lu free=%lu used=%lu reserved=%lu\n", s.total, s.free, s.used, s.reserved);
}

noreturn void hv_main(uint32_t magic, uint32_t mbi_pa);

noreturn void hv_main(uint32_t magic, uint32_t mbi_pa)
{
    percpu_init_boot_cpu();
    serial_init();
    uint64_t tsc_banner = arch_cycles();
    printk("moat " MOAT_VERSION " x86-64 hypervisor\n");
    printk("boot: tsc entry=%lu banner=%lu\n", boot_tsc_entry, tsc_banner);
    sha256_arch_init();          /* the CPU's SHA instructions, if any, from the first hash on */
    timer_calibration_start();   /* the PIT counts while the image is hashed */
    measure_hypervisor_image(); /* before anything writes the image's data */

    arch_init_boot_cpu();

    if (!multiboot_parse(magic, mbi_pa))
        machine_stop(STOP_FAILURE);
    boot_print_info();

    paddr_t image_start = (paddr_t)_image_start_phys, image_end = (paddr_t)_bss_end_phys;
    printk("image: [0x%lx-0x%lx) %lu KiB\n", image_start, image_end, (image_end - image_start) >> 10);
    frame_init(&boot_info, image_start, image_end);

    paddr_t ram_end = 0;
    for (unsigned i = 0; i < boot_info.mem_count; i++)
        if (boot_info.mem[i].type == MMAP_AVAILABLE && boot_info.mem[i].end > ram_end)
            ram_end = boot_info.mem[i].end;
    paging_init(MIN(ram_end, MAX_PHYS_MEMORY));
    printk("paging: w+x pages=%lu\n", paging_count_wx());

    arch_init_late();
    print_frames();

    char bench[16];
    if (cmdline_get("bench", bench, sizeof(bench)) && !strcmp(bench, "smp"))
        smp_bench();

    char test[32];
    if (cmdline_get("selftest", test, sizeof(test))) {
        selftest_run(test);
        printk("moat: this build has no self-tests; 'selftest=%s' ignored\n", test);
    }

    measure_init();
    xsm_boot();
    quota_rebuild(); /* the boot policy's limits */
    mitigate_init();
    meter_init();
    frame_failalloc_arm(true); /* a self-test build's injected failure (frame.c), from here on */
    if (!manifest_boot()) {
        measure_boot_done();
        printk("moat: boot complete; no domains to run\n");
        machine_stop(STOP_SUCCESS);
    }
    measure_boot_done();
    frame_failalloc_arm(false); /* or from here on */
    sched_start();
    exit_to_guest();
}
