// SPDX-License-Identifier: MIT
// Time. The local APIC timer gives the periodic tick; the TSC is the clock. The TSC's rate is read
// from CPUID when the CPU states it, else measured against the PIT (a fixed 1.193182 MHz) over the
// first part of the boot (at least about 0.5 ms: no busy wait when the boot's work takes longer);
// the APIC timer is measured against the TSC over the same stretch. The PIT QEMU models on the same virtual clock
// as the APIC and the TSC, so the results are right under TCG, KVM and -icount alike. The boot
// CPU measures once: every local APIC timer runs from the same bus clock, so each AP starts its
// tick with the boot CPU's calibration (and the SMP self-test checks each AP's rate).
#include <moat/apic.h>
#include <moat/boot_info.h>
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
#define CALIBRATE_PIT_TICKS 600   /* about 0.5 ms of the PIT between the two ends' centres, */
#define CALIBRATE_PIT_EDGES 8     /* each end the mean of this many PIT-TSC pairs (pit_window_end) */
#define CALIBRATE_APIC_US 100     /* the APIC timer against the TSC: at least this window */
#define CALIBRATE_APIC_MAX_US 10000 /* and at most this one, */
#define CALIBRATE_APIC_PRECISION 1000 /* aiming at 0.1 %, no worse than the PIT window gives the TSC */
#define CALIBRATE_SPINS 100000000ULL
#define CALIBRATE_PAIR_COUNTS 8 /* at most this many PIT counts (6.7 us) around a PIT-TSC pair, */
#define CALIBRATE_PAIR_TRIES 16 /* else the pair is taken again, at most this often (pit_tsc_pair) */

static uint64_t lapic_timer_khz; /* APIC timer counts per ms, at divide-by-16 */
static uint64_t tsc_rate_khz;
static uint64_t tsc_at_init;
static void time_scale_init(void);

/* PIT channel 2's current count (latched, so the two bytes belong together). */
static uint16_t pit_count(void)
{
    outb(0x43, 0x80); /* latch channel 2 */
    uint8_t lo = inb(0x42);
    return (uint16_t)(lo | (uint16_t)inb(0x42) << 8);
}

static uint32_t apic_counted(void) { return 0xffffffff - lapic_read(LAPIC_TIMER_CUR); }

/* The TSC rate from CPUID when the CPU states it: leaf 15h gives TSC = crystal * EBX / EAX (exact
 * when it names the crystal), leaf 16h the base frequency the TSC runs at when 15h has the ratio
 * but no crystal. 0 when neither says: measure it. */
static uint64_t tsc_khz_from_cpuid(void)
{
    uint32_t max, a, b, c, d;
    cpuid(0, 0, &max, &b, &c, &d);
    if (max < 0x15)
        return 0;
    cpuid(0x15, 0, &a, &b, &c, &d);
    if (!a || !b)
        return 0;
    if (c)
        return (uint64_t)c * b / a / 1000;
    if (max < 0x16)
        return 0;
    uint32_t base_mhz;
    cpuid(0x16, 0, &base_mhz, &b, &c, &d);
    return (uint64_t)(base_mhz & 0xffff) * 1000;
}

/* Starts PIT channel 2 counting down from its longest count (55 ms), in mode 0: its output (bit 5
 * of port 0x61) stays low until the count runs out, so a reading says whether it wrapped. */
static void pit_start(void)
{
    outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate channel 2 on, speaker off */
    outb(0x43, 0xb0);                       /* channel 2, lobyte/hibyte, mode 0 */
    outb(0x42, 0xff);
    outb(0x42, 0xff);
    /* Restart the count by toggling the gate. */
    uint8_t gate = inb(0x61);
    outb(0x61, gate & ~0x01);
    outb(0x61, gate | 0x01);
}

static bool pit_ran_out(void) { return (inb(0x61) & 0x20) != 0; }

/* Waits for the PIT's count to change from `seen` and returns the new count: the moment right
 * after a change is the only one a reading pins down to the exact PIT count. */
static uint16_t pit_next_count(uint16_t seen)
{
    uint16_t now;
    for (uint64_t spins = 0; (now = pit_count()) == seen;)
        if (++spins > CALIBRATE_SPINS)
            panic("the PIT never counted down: cannot calibrate the timer");
    return now;
}

/* The local APIC's registers before paging_init maps them at LAPIC_VA: boot.S maps the default
 * base, so only when the APIC is enabled and still there. NULL: the APIC's window opens later. */
static volatile uint32_t *early_lapic(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    if ((base & 0xffffff000ULL) != LAPIC_DEFAULT_BASE || !(base & (1u << 11)))
        return NULL;
    return (volatile uint32_t *)(DIRECTMAP_BASE + LAPIC_DEFAULT_BASE);
}

/* The APIC timer's count with the TSC read on either side: the count belongs to the middle, give or
 * take half the gap (which is wide when an emulator's thread was descheduled in between). A sample
 * is CALIBRATE_APIC_READS such readings in a row, summed: one reading is off by up to a whole count
 * (16 bus clocks at divide-by-16, 27 ppm of a 0.6 ms window at 1 GHz), by a different fraction of
 * a count each time, so the sums' centre is good to a fraction of one. */
#define CALIBRATE_APIC_READS 16
struct apic_sample {
    uint64_t tsc, gap;  /* the readings' middle (mean) and the widest gap */
    uint64_t apic_sum;  /* the counts, summed */
    uint64_t tsc2_sum;  /* the TSC on both sides of each, summed (twice the middles) */
};

static struct apic_sample apic_sample_at(const volatile uint32_t *early)
{
    struct apic_sample s = {0};
    for (unsigned i = 0; i < CALIBRATE_APIC_READS; i++) {
        uint64_t t0 = rdtsc();
        uint32_t apic = early ? 0xffffffff - early[LAPIC_TIMER_CUR / 4] : apic_counted();
        uint64_t t1 = rdtsc();
        s.apic_sum += apic;
        s.tsc2_sum += t0 + t1;
        s.gap = MAX(s.gap, t1 - t0);
    }
    s.tsc = s.tsc2_sum / (2 * CALIBRATE_APIC_READS);
    return s;
}

static struct apic_sample apic_sample(void) { return apic_sample_at(NULL); }

/* The TSC against the PIT, over a window that opens in timer_calibration_start and closes in
 * timer_init: the boot's own work between the two (hashing the hypervisor image, the frame table,
 * paging) runs while the PIT counts, instead of a busy wait. */
static struct {
    bool started;
    uint16_t pit0;     /* the first pair's PIT count: the others are counted from it */
    uint64_t counts0;  /* the start's pairs: the sum of their PIT counts since pit0 */
    uint64_t tsc0;     /* and of their TSC readings */
} pit_window;

/* The APIC timer against the TSC, over the same stretch of the boot when the APIC can be reached
 * that early (early_lapic), counting down from its largest count at divide-by-16. */
static struct {
    bool started;
    struct apic_sample s0;
} apic_window;

#ifdef CONFIG_SELFTEST
/* Test-only `timer_stall=<PIT counts>`: the first window's end waits that long between its PIT and
 * TSC readings, as a host that holds up the emulator's thread there would. */
static void selftest_pit_stall(uint16_t now)
{
    static bool done;
    char arg[8];
    if (done || !cmdline_get("timer_stall", arg, sizeof(arg)))
        return;
    done = true;
    unsigned counts = 0;
    for (const char *p = arg; *p >= '0' && *p <= '9' && counts < 60000; p++)
        counts = counts * 10 + (unsigned)(*p - '0');
    while ((uint16_t)(now - pit_count()) < counts)
        ;
    printk("selftest: timer_stall: %u PIT counts between a window's PIT and TSC readings\n", counts);
}
#else
static void selftest_pit_stall(uint16_t now) { (void)now; }
#endif

/*
 * A window's end: a PIT count, taken right after it changed from `seen`, and the TSC read just
 * after it. An emulator whose thread the host holds up between the two readings spoils the pair
 * by the length of the stall (under load, a 2 ms stall at one end of a 1 ms window gave a TSC
 * rate 60 times too low). So the PIT is read again after the TSC: when more than
 * CALIBRATE_PAIR_COUNTS passed, the pair is taken again at the PIT's next change. This costs one
 * PIT reading per end, where confirming the rate with a second window would cost 1 ms per boot.
 */
static uint16_t pit_tsc_pair(uint16_t seen, uint64_t *tsc, bool window_end)
{
    uint16_t now = pit_next_count(seen);
    for (unsigned tries = 1;; tries++) {
        if (window_end)
            selftest_pit_stall(now);
        *tsc = rdtsc();
        uint16_t after = pit_count();
        if ((uint16_t)(now - after) <= CALIBRATE_PAIR_COUNTS || tries == CALIBRATE_PAIR_TRIES)
            return now;
        now = pit_next_count(after);
    }
}

/*
 * One end of the window: CALIBRATE_PIT_EDGES PIT-TSC pairs at consecutive changes of the PIT's
 * count, summed (counts since pit0, TSC readings). A pair's TSC reading comes some way after its
 * PIT change (the poll's length, the readings' own latency), by an amount that varies from pair
 * to pair; the rate is taken between the two ends' centres of mass, so that variation counts
 * once divided by the number of pairs at each end, where a single pair per end needed a window
 * that many times longer for the same error (8 pairs against 0.5 ms of window: the error of one
 * pair over 2.8 ms). Returns the last pair's count.
 */
static uint16_t pit_window_end(uint16_t seen, bool window_end, uint64_t *counts, uint64_t *tsc)
{
    *counts = *tsc = 0;
    for (unsigned i = 0; i < CALIBRATE_PIT_EDGES; i++) {
        uint64_t t;
        seen = pit_tsc_pair(seen, &t, window_end && i == 0);
        if (!window_end && i == 0)
            pit_window.pit0 = seen;
        *counts += (uint16_t)(pit_window.pit0 - seen);
        *tsc += t;
    }
    return seen;
}

static void pit_window_open(void)
{
    pit_start();
    pit_window_end(pit_count(), false, &pit_window.counts0, &pit_window.tsc0);
    pit_window.started = true;
}

/* Only before paging_init: early_lapic's mapping is the boot page tables'. */
void timer_calibration_start(void)
{
    volatile uint32_t *lapic = early_lapic();
    if (lapic) {
        lapic[LAPIC_TIMER_DIV / 4] = 0x3;
        lapic[LAPIC_TIMER_INIT / 4] = 0xffffffff;
        apic_window.s0 = apic_sample_at(lapic);
        apic_window.started = true;
    }
    if (!tsc_khz_from_cpuid()) /* else nothing to measure against the PIT */
        pit_window_open();
}

/* The TSC's rate from the window opened by timer_calibration_start: both ends taken right after
 * the PIT's count changed, from the exact number of PIT counts in between, at least
 * CALIBRATE_PIT_TICKS (waited for when the work in between was shorter, as on a fast CPU). When
 * the PIT ran out meanwhile (more than 55 ms: a slow emulator on a loaded host), the number of
 * counts is unknown and a fresh window of CALIBRATE_PIT_TICKS is measured instead. */
static uint64_t tsc_khz_from_pit(void)
{
    bool fresh = !pit_window.started || pit_ran_out();
    if (fresh)
        pit_window_open();
    uint16_t now = pit_window.pit0;
    while ((uint16_t)(pit_window.pit0 - now) < CALIBRATE_PIT_TICKS + CALIBRATE_PIT_EDGES - 2)
        now = pit_next_count(now);
    uint64_t counts1, tsc1;
    pit_window_end(now, true, &counts1, &tsc1);
    if (!fresh && pit_ran_out()) { /* it ran out between the last two readings: measure afresh */
        pit_window.started = false;
        return tsc_khz_from_pit();
    }
    /* Exact PIT counts and the TSC between the two ends' centres (each sum over as many pairs). */
    uint64_t pit = counts1 - pit_window.counts0, tsc = tsc1 - pit_window.tsc0;
    uint64_t khz = tsc * PIT_HZ / (pit * 1000);
    if (!khz)
        panic("timer calibration failed (tsc %lu in %lu PIT counts)", tsc / CALIBRATE_PIT_EDGES,
              pit / CALIBRATE_PIT_EDGES);
    return khz;
}

/* The TSC rate from CPUID when the CPU states it, else measured against the PIT; then the APIC timer
 * (at divide-by-16) against the TSC, between two samples whose gaps add up to at most
 * 1/CALIBRATE_APIC_PRECISION of the window: at least CALIBRATE_APIC_US, longer when the gaps are
 * wide (an emulator's thread descheduled, or waiting for its device lock, in the middle of a
 * read). Past CALIBRATE_APIC_MAX_US the first sample with a gap no wider than the start's ends it;
 * past ten times that, any sample (the best that host can do). */
static void calibrate(void)
{
    uint64_t known_khz = tsc_khz_from_cpuid();
    tsc_rate_khz = known_khz ? known_khz : tsc_khz_from_pit();
    uint64_t least = tsc_rate_khz * CALIBRATE_APIC_US / 1000, most = tsc_rate_khz * CALIBRATE_APIC_MAX_US / 1000;
    struct apic_sample s0, s1;
    if (apic_window.started) { /* counting since timer_calibration_start */
        s0 = apic_window.s0;
    } else {
        lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
        lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
        s0 = apic_sample();
    }
    /* The start: the narrowest of a few samples, unless the first is narrow already. */
    for (unsigned i = 0; !apic_window.started && i < 16 && s0.gap * 2 * CALIBRATE_APIC_PRECISION > most; i++) {
        s1 = apic_sample();
        if (s1.gap < s0.gap)
            s0 = s1;
    }
    uint64_t window;
    for (;;) {
        cpu_relax();
        s1 = apic_sample();
        window = s1.tsc - s0.tsc;
        if (window < least)
            continue;
        if ((s0.gap + s1.gap) * CALIBRATE_APIC_PRECISION <= window || (window >= most && s1.gap <= s0.gap) ||
            window >= 10 * most)
            break;
    }
    lapic_write(LAPIC_TIMER_INIT, 0);
    /* From the sums (apic counts per TSC tick = 2 * counts / tsc2), to the nearest count per ms
     * (truncating made it up to one low: 16 ppm of a 62.5 MHz bus). */
    uint64_t counts = s1.apic_sum - s0.apic_sum, tsc2 = s1.tsc2_sum - s0.tsc2_sum;
    lapic_timer_khz = (2 * counts * tsc_rate_khz + tsc2 / 2) / tsc2;
    if (!lapic_timer_khz)
        panic("timer calibration failed (apic %lu counts in %lu tsc)", counts / CALIBRATE_APIC_READS, window);
}

static void timer_tick(struct cpu_regs *regs)
{
    (void)regs;
    struct percpu *cpu = this_cpu();
    cpu->ticks++;
    /* The scheduler's share of the tick runs under the hypervisor lock, on the way out
     * (exit_to_guest): an interrupt handler takes no lock. */
    cpu->need_resched |= RESCHED_TICK;
}

/*
 * With several CPUs, the boot CPU's tick ends with a pause. Under -icount, QEMU 7.2 runs the vCPUs
 * round robin in one thread, the boot CPU first after each timer deadline, and gives each vCPU in
 * turn every instruction left until the next deadline: a boot CPU that never halts (a guest
 * spinning in ring 3) uses them all, the other vCPU's turn starts at the deadline with none left,
 * and it never runs again (QEMU 8.0 splits the budget between the vCPUs). TCG ends a vCPU's turn
 * at a pause, so the other vCPU runs from the boot CPU's tick to the next deadline (its own tick).
 * Only the boot CPU pauses: a vCPU's own tick is handled at the start of its turn, and a pause
 * there would give its turn away. On hardware a pause per tick costs a few cycles; with one CPU
 * the plain handler runs.
 */
static void timer_tick_then_pause(struct cpu_regs *regs)
{
    timer_tick(regs);
    if (this_cpu()->id == 0)
        cpu_relax();
}

void timer_share_cpus(void) { idt_set_irq_handler(VEC_TIMER, timer_tick_then_pause); }

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
