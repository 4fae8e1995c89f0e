// SPDX-License-Identifier: MIT
// Time. The local APIC timer gives the periodic tick; the TSC is the clock. Both rates are
// measured against the PIT (a fixed 1.193182 MHz), which QEMU models on the same virtual clock
// as the APIC and the TSC, so the results are right under TCG, KVM and -icount alike. The boot
// CPU measures once: every local APIC timer runs from the same bus clock, so each AP starts its
// tick with the boot CPU's calibration (and the SMP self-test checks each AP's rate).
#include <moat/apic.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/paging.h>
#include <moat/sched.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <moat/x86.h>
#include <public/hv.h>

#define LVT_PERIODIC (1u << 17)

#define PIT_HZ 1193182
#define CALIBRATE_MS 10

static uint64_t lapic_timer_khz; /* APIC timer counts per ms, at divide-by-16 */
static uint64_t tsc_rate_khz;
static uint64_t tsc_at_init;
static void time_scale_init(void);

/* Runs PIT channel 2 once for CALIBRATE_MS and samples the APIC timer and TSC around it. */
static void calibrate(void)
{
    uint16_t count = PIT_HZ * CALIBRATE_MS / 1000;
    outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate channel 2 on, speaker off */
    outb(0x43, 0xb0);                       /* channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count) */
    outb(0x42, count & 0xff);
    outb(0x42, count >> 8);
    /* Restart the count by toggling the gate. */
    uint8_t gate = inb(0x61);
    outb(0x61, gate & ~0x01);
    outb(0x61, gate | 0x01);

    lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
    lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
    uint64_t tsc0 = rdtsc();
    uint64_t spins = 0;
    while (!(inb(0x61) & 0x20)) /* OUT2 goes high at terminal count */
        if (++spins > 1000000000ULL)
            panic("the PIT never counted down: cannot calibrate the timer");
    uint64_t tsc1 = rdtsc();
    uint32_t apic_elapsed = 0xffffffff - lapic_read(LAPIC_TIMER_CUR);
    lapic_write(LAPIC_TIMER_INIT, 0);

    lapic_timer_khz = apic_elapsed / CALIBRATE_MS;
    tsc_rate_khz = (tsc1 - tsc0) / CALIBRATE_MS;
    if (!lapic_timer_khz || !tsc_rate_khz)
        panic("timer calibration failed (apic %u counts, tsc %lu in %d ms)", apic_elapsed, tsc1 - tsc0,
              CALIBRATE_MS);
}

static void timer_tick(struct cpu_regs *regs)
{
    (void)regs;
    struct percpu *cpu = this_cpu();
    cpu->ticks++;
    /* Only the boot CPU runs domains (and their timers) for now; an AP just counts its ticks. */
    if (cpu->id == 0)
        sched_tick();
}

void timer_start_cpu(void)
{
    lapic_write(LAPIC_TIMER_DIV, 0x3);
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LVT_PERIODIC);
    lapic_write(LAPIC_TIMER_INIT, (uint32_t)(lapic_timer_khz * 1000 / TICK_HZ));
}

void timer_init(void)
{
    calibrate();
    tsc_at_init = rdtsc();
    time_scale_init();
    idt_set_irq_handler(VEC_TIMER, timer_tick);
    timer_start_cpu();
    printk("timer: lapic %d Hz tick, bus %lu kHz, tsc %lu kHz\n", TICK_HZ, lapic_timer_khz * 16, tsc_rate_khz);
}

uint64_t timer_ticks(void) { return this_cpu()->ticks; }
uint64_t tsc_khz(void) { return tsc_rate_khz; }
/* ns = ((tsc - tsc_at_init) << shift) * mul >> 32, the pvclock formula of public/hv.h. */
static uint32_t tsc_mul;
static int8_t tsc_shift;

static void time_scale_init(void)
{
    uint64_t ratio = (1000000ULL << 32) / tsc_rate_khz; /* ns per tick, as a 32.32 fixed-point number */
    tsc_shift = 0;
    while (ratio >= (1ULL << 32)) {
        ratio >>= 1;
        tsc_shift++;
    }
    tsc_mul = (uint32_t)ratio;
}

uint64_t now_ns(void)
{
    uint64_t delta = (rdtsc() - tsc_at_init) << tsc_shift;
    return (uint64_t)(((unsigned __int128)delta * tsc_mul) >> 32);
}

void time_publish(struct shared_info *s)
{
    struct vcpu_time_info *t = &s->vcpu_info[0].time;
    t->version++;
    __asm__ volatile("" ::: "memory");
    t->tsc_timestamp = tsc_at_init;
    t->system_time = 0;
    t->tsc_to_system_mul = tsc_mul;
    t->tsc_shift = tsc_shift;
    __asm__ volatile("" ::: "memory");
    t->version++;
}
