// SPDX-License-Identifier: MIT
// Starting the application processors and talking to them (moat/smp.h).
//
// Bring-up, all APs at once: INIT to each, the wait the CPU needs after INIT, a startup IPI
// (SIPI) to each, up to 200 us for each to mark itself alive in the trampoline, a second SIPI to
// those that did not, then the boot CPU halts until every AP is online (each wakes it with an
// IPI) or two seconds have passed. An AP that never answered or never came online is named,
// given an INIT (which parks it, waiting for a SIPI that never comes), and the others go on.
//
// Waits (Intel SDM vol. 3A 8.4.4.1 and the MP specification B.4): 10 ms after INIT, except on
// CPUs whose vendors say none is needed (Intel family 6, AMD family 0Fh and later: the rule Linux
// applies); up to 200 us after each SIPI, ended as soon as the AP is alive (a SIPI to a CPU that
// is already running is ignored, so the second one is harmless but only sent when needed). None
// of these waits is per AP.
#include <moat/acpi_tables.h>
#include <moat/apic.h>
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/frame.h>
#include <moat/hvlock.h>
#include <moat/lib.h>
#include <moat/multiboot.h>
#include <moat/paging.h>
#include <moat/sched.h>
#include <moat/smp.h>
#include <moat/spinlock.h>
#include <moat/timer.h>
#include <moat/x86.h>
#include <moat/xsave.h>

#define SIPI_WAIT_US 200
#define ONLINE_WAIT_MS 2000
#ifdef CONFIG_SELFTEST
static uint64_t call_ms = 5000; /* test-only `smp_call_ms=` (call_ms_read) */
#define CALL_MS call_ms
#else
#define CALL_MS 5000
#endif
#define CALL_WAIT_MS CALL_MS /* broadcasts (tests and bench): a CPU that does not answer is counted out */
#define CALL_PATIENCE_MS CALL_MS /* smp_call: after this, the wait is reported (and the IPI sent again) */

enum cpu_state { CPU_ABSENT = 0, CPU_STARTING, CPU_ONLINE, CPU_FAILED };

/* Read by ap_entry64 (trampoline.S): keep the layout. */
struct ap_boot {
    uint32_t apic_id;
    uint32_t cpu;
    uint64_t stack_top;
};
_Static_assert(sizeof(struct ap_boot) == 16, "ap_boot layout (trampoline.S)");
struct ap_boot ap_boot_table[MOAT_MAX_CPUS];
uint32_t ap_boot_count;
uint64_t ap_boot_cr3;

extern const char trampoline_start[];
/* Offsets in the trampoline (trampoline.S): its size and the words smp.c fills in or reads. */
extern const struct trampoline_layout {
    uint64_t size, cr3, efer, alive;
} trampoline_layout;

vaddr_t ap_stacks_end = AP_STACKS_BASE;
static enum cpu_state state[MOAT_MAX_CPUS];
static const char *fail_reason[MOAT_MAX_CPUS];
static unsigned listed = 1, online = 1;
static uint64_t startup_tsc; /* from reading the MADT to the last AP online (or given up on) */
static spinlock_t call_lock; /* SPINLOCK_INIT is all zeros: in .bss */

unsigned smp_cpus_online(void) { return online; }
unsigned smp_cpus_listed(void) { return listed; }
bool smp_cpu_online(unsigned cpu) { return cpu < MOAT_MAX_CPUS && __atomic_load_n(&percpus[cpu].online, __ATOMIC_ACQUIRE); }

static uint64_t tsc_after_us(uint64_t us) { return rdtsc() + us * tsc_khz() / 1000; }

/* Halts (interrupts on) until the next interrupt: a tick, or an AP's wake-up IPI. */
static void wait_for_interrupt(void)
{
    sti_halt();
    cli();
}

static bool init_delay_needed(void)
{
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    bool intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
    bool amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;   /* AuthenticAMD */
    bool hygon = b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975; /* HygonGenuine */
    cpuid(1, 0, &a, &b, &c, &d);
    unsigned family = (a >> 8) & 0xf;
    if (family == 0xf)
        family += (a >> 20) & 0xff;
    return !((intel && family == 6) || (amd && family >= 0xf) || (hygon && family >= 0x18));
}

/* Maps cpu's four stacks (kernel, #DF, NMI, #MC), each above an unmapped guard page. */
static bool map_stacks(struct percpu *cpu)
{
    vaddr_t base = AP_STACKS_BASE + (vaddr_t)cpu->id * AP_STACKS_PER_CPU * KSTACK_UNIT;
    uint64_t g = cpu_features.pge ? PTE_G : 0;
    for (unsigned s = 0; s < AP_STACKS_PER_CPU; s++) {
        vaddr_t stack = base + s * KSTACK_UNIT + PAGE_SIZE;
        for (vaddr_t va = stack; va < stack + KSTACK_SIZE; va += PAGE_SIZE) {
            mfn_t m = frame_alloc(FRAME_HV, DOMID_HV);
            if (m == INVALID_MFN || !paging_map_page(va, m << PAGE_SHIFT, PTE_W | PTE_NX | g))
                return false; /* boot-time, and the CPU is left out: what was mapped stays */
        }
    }
    cpu->kstack_top = base + KSTACK_UNIT;
    for (unsigned s = 1; s < AP_STACKS_PER_CPU; s++)
        cpu->ist_top[s - 1] = base + (s + 1) * KSTACK_UNIT;
    ap_stacks_end = MAX(ap_stacks_end, base + AP_STACKS_PER_CPU * KSTACK_UNIT);
    return true;
}

/* Is [TRAMPOLINE_PA, + TRAMPOLINE_PAGES) RAM the memory map says is ours to use? */
static bool trampoline_memory_usable(void)
{
    paddr_t start = TRAMPOLINE_PA, end = TRAMPOLINE_PA + TRAMPOLINE_PAGES * PAGE_SIZE;
    for (unsigned i = 0; i < boot_info.mem_count; i++) {
        const struct mem_range *r = &boot_info.mem[i];
        if (r->type != MMAP_AVAILABLE && r->start < end && start < r->end)
            return false;
    }
    for (unsigned i = 0; i < boot_info.mem_count; i++) {
        const struct mem_range *r = &boot_info.mem[i];
        if (r->type == MMAP_AVAILABLE && r->start <= start && end <= r->end)
            return true;
    }
    return false;
}

static void trampoline_prepare(void)
{
    uint8_t *page = phys_to_virt(TRAMPOLINE_PA);
    size_t code = (size_t)trampoline_layout.size;
    _Static_assert(TRAMPOLINE_PA % PAGE_SIZE == 0 && TRAMPOLINE_PA < 0x100000, "SIPI needs a page below 1 MiB");
    memset(page, 0, TRAMPOLINE_PAGES * PAGE_SIZE);
    memcpy(page, trampoline_start, code);

    /* The transition tables: 0-2 MiB identity (the trampoline runs there), the upper half as is. */
    uint64_t *pml4 = (uint64_t *)(page + PAGE_SIZE), *pdpt = (uint64_t *)(page + 2 * PAGE_SIZE),
             *pd = (uint64_t *)(page + 3 * PAGE_SIZE);
    const uint64_t *hv = phys_to_virt(paging_root());
    for (unsigned i = 256; i < 512; i++)
        pml4[i] = hv[i];
    pml4[0] = (TRAMPOLINE_PA + 2 * PAGE_SIZE) | PTE_P | PTE_W;
    pdpt[0] = (TRAMPOLINE_PA + 3 * PAGE_SIZE) | PTE_P | PTE_W;
    pd[0] = PTE_P | PTE_W | PTE_PS; /* physical address 0: the first 2 MiB */

    uint32_t cr3 = TRAMPOLINE_PA + PAGE_SIZE, efer = EFER_LME | (cpu_features.nx ? EFER_NXE : 0);
    memcpy(page + trampoline_layout.cr3, &cr3, 4);
    memcpy(page + trampoline_layout.efer, &efer, 4);
    ap_boot_cr3 = paging_root();
}

static bool ap_alive(const struct percpu *cpu)
{
    const volatile uint8_t *alive = phys_to_virt(TRAMPOLINE_PA + (paddr_t)trampoline_layout.alive);
    return cpu->apic_id < 256 && alive[cpu->apic_id];
}

static bool ap_settled(unsigned i) { return __atomic_load_n(&state[i], __ATOMIC_ACQUIRE) != CPU_STARTING; }

#ifdef CONFIG_SELFTEST
/* Test-only `smp_sabotage=<cpu>:nosipi|hang`: that AP gets no SIPI, or hangs before it is up. */
static unsigned sabotage_cpu = MOAT_MAX_CPUS;
static bool sabotage_hang;

static void sabotage_read(void)
{
    char arg[24];
    if (!cmdline_get("smp_sabotage", arg, sizeof(arg)))
        return;
    unsigned n = 0;
    const char *p = arg;
    for (; *p >= '0' && *p <= '9'; p++)
        n = n * 10 + (unsigned)(*p - '0');
    if (p == arg || *p != ':' || (strcmp(p + 1, "nosipi") && strcmp(p + 1, "hang"))) {
        printk("smp: smp_sabotage=%s not understood (<cpu>:nosipi or <cpu>:hang)\n", arg);
        return;
    }
    sabotage_cpu = n;
    sabotage_hang = !strcmp(p + 1, "hang");
    printk("selftest: smp_sabotage: cpu %u will %s\n", n, sabotage_hang ? "hang before it is up" : "get no SIPI");
}
#define SABOTAGED(i, hang) ((i) == sabotage_cpu && sabotage_hang == (hang))

/*
 * Test-only `smp_call_ms=<n>` (1 to 60000): smp_call's patience and the broadcasts' deadline, 5 s
 * otherwise, so that a test can keep a CPU from answering past them in a fraction of the time
 * (tests/smp/test_smp_xstate.py, with xsave_stall_ms=).
 */
static void call_ms_read(void)
{
    char arg[16];
    if (!cmdline_get("smp_call_ms", arg, sizeof(arg)))
        return;
    uint64_t ms = 0;
    if (!cmdline_number(arg, 60000, &ms) || !ms) {
        printk("smp: smp_call_ms=%s not understood (1 to 60000)\n", arg);
        return;
    }
    call_ms = ms;
    printk("selftest: smp_call_ms: a call unanswered for %lu ms is reported, a broadcast's CPU counted out\n", ms);
}
#else
static void sabotage_read(void) {}
static void call_ms_read(void) {}
#define SABOTAGED(i, hang) false
#endif

static noreturn void ap_fail(struct percpu *cpu, const char *why)
{
    fail_reason[cpu->id] = why;
    __atomic_store_n(&state[cpu->id], CPU_FAILED, __ATOMIC_RELEASE);
    apic_send_ipi(percpus[0].apic_id, VEC_IPI_WAKE);
    for (;;) {
        cli();
        halt();
    }
}

noreturn void ap_main(unsigned id);
noreturn void ap_main(unsigned id)
{
    struct percpu *cpu = &percpus[id];
    wrmsr(MSR_GS_BASE, (uint64_t)cpu);
    wrmsr(MSR_KERNEL_GS_BASE, 0);
    if (SABOTAGED(id, true))
        for (;;) {
            cli();
            halt();
        }
    gdt_load(cpu);
    idt_load();
    if (!cpu_enable_on_ap())
        ap_fail(cpu, "lacks a feature the boot CPU uses");
    xsave_enable_cpu();
    if (!xsave_cpu_area_fits())
        ap_fail(cpu, "needs a larger extended-state area than the boot CPU");
    syscall_init();
    lapic_init_cpu();
    if (lapic_id() != cpu->apic_id)
        ap_fail(cpu, "its local APIC id is not the one the MADT lists");
    timer_start_cpu();
    /* A second CPU online: vCPUs may move between CPUs (hv_lock_smp will be true), which the
     * inlined extended-state switch does not handle (xsave.h). Before the release below, which
     * the boot CPU acquires. */
    xsave_fast.on = false;
    cpu->online = true;
    __atomic_store_n(&state[id], CPU_ONLINE, __ATOMIC_RELEASE);
    apic_send_ipi(percpus[0].apic_id, VEC_IPI_WAKE);
    /* Until the boot CPU has built the domains: halt with interrupts on, answering ticks and IPIs. */
    while (!sched_started())
        sti_halt();
    cli();
    hv_lock_enter();
    exit_to_guest();
}

static void print_cpus(const struct acpi_cpus *map)
{
    printk("acpi: MADT at 0x%lx (%s at 0x%lx, RSDP revision %u at 0x%lx): %u CPUs, apic ids", map->madt_pa,
           map->xsdt ? "XSDT" : "RSDT", map->root_pa, map->rsdp_revision, map->rsdp_pa, map->count);
    for (unsigned i = 0; i < map->count; i++)
        printk(" %u", map->cpu[i].apic_id);
    printk("\n");
    if (map->disabled)
        printk("acpi: %u CPUs listed as disabled (hot-plug slots): not started\n", map->disabled);
    if (map->over_limit)
        printk("acpi: %u more CPUs than the limit of %d: not started\n", map->over_limit, MOAT_MAX_CPUS);
    if (map->unreachable)
        printk("acpi: %u CPUs with APIC ids above 254 (x2APIC only): not started\n", map->unreachable);
}

/* Starts the APs in cpus 1..listed-1; returns how many came online. */
static unsigned start_aps(void)
{
    trampoline_prepare();
    for (unsigned i = 1; i < listed; i++) {
        if (state[i] != CPU_STARTING)
            continue;
        ap_boot_table[ap_boot_count++] = (struct ap_boot){percpus[i].apic_id, i, percpus[i].kstack_top};
        apic_send_init(percpus[i].apic_id);
    }
    if (init_delay_needed()) {
        uint64_t until = timer_ticks() + 10 + 1; /* whole ticks: at least 10 ms */
        while (timer_ticks() < until)
            wait_for_interrupt();
    }
    for (unsigned i = 1; i < listed; i++)
        if (state[i] == CPU_STARTING && !SABOTAGED(i, false))
            apic_send_startup(percpus[i].apic_id, TRAMPOLINE_PA >> PAGE_SHIFT);

    uint64_t until = tsc_after_us(SIPI_WAIT_US);
    for (bool all = false; !all && rdtsc() < until;) {
        all = true;
        for (unsigned i = 1; i < listed; i++)
            all &= state[i] != CPU_STARTING || ap_alive(&percpus[i]);
        cpu_relax();
    }
    for (unsigned i = 1; i < listed; i++)
        if (state[i] == CPU_STARTING && !ap_alive(&percpus[i]) && !SABOTAGED(i, false))
            apic_send_startup(percpus[i].apic_id, TRAMPOLINE_PA >> PAGE_SHIFT);

    until = tsc_after_us(ONLINE_WAIT_MS * 1000ULL);
    for (;;) {
        bool all = true;
        for (unsigned i = 1; i < listed; i++)
            all &= ap_settled(i);
        if (all || rdtsc() >= until)
            break;
        wait_for_interrupt();
    }

    unsigned up = 0;
    for (unsigned i = 1; i < listed; i++) {
        struct percpu *cpu = &percpus[i];
        if (__atomic_load_n(&state[i], __ATOMIC_ACQUIRE) == CPU_ONLINE) {
            up++;
            continue;
        }
        const char *why = state[i] == CPU_FAILED         ? fail_reason[i]
                          : ap_alive(cpu)                ? "started but did not come online in time"
                                                         : "did not answer the startup IPIs";
        printk("smp: cpu %u (apic id %u) %s: left out\n", i, cpu->apic_id, why);
        state[i] = CPU_FAILED;
        apic_send_init(cpu->apic_id); /* park it: wait-for-SIPI, where it does nothing */
    }
    /* Nothing runs from the low pages any more: leave no page tables or code behind. */
    memset(phys_to_virt(TRAMPOLINE_PA), 0, TRAMPOLINE_PAGES * PAGE_SIZE);
    return up;
}

static void ipi_wake(struct cpu_regs *regs)
{
    (void)regs;
    struct percpu *cpu = this_cpu();
    cpu->ipis++;
    cpu->woken = true; /* an idle CPU looks at its queue again (sched.c) */
}

static void ipi_call(struct cpu_regs *regs);

static void ipi_stop(struct cpu_regs *regs)
{
    (void)regs;
    for (;;) {
        cli();
        halt();
    }
}

void smp_boot(void)
{
    struct percpu *bsp = &percpus[0];
    bsp->apic_id = lapic_id();
    bsp->online = true;
    state[0] = CPU_ONLINE;
    idt_set_irq_handler(VEC_IPI_WAKE, ipi_wake);
    idt_set_irq_handler(VEC_IPI_CALL, ipi_call);
    idt_set_irq_handler(VEC_IPI_STOP, ipi_stop);

    static struct acpi_cpus map;
    uint64_t tsc0 = rdtsc();
    if (!acpi_cpus_find(bsp->apic_id, &map))
        goto done;
    print_cpus(&map);
    if (map.count < 2)
        goto done;
    if (!trampoline_memory_usable()) {
        printk("smp: [0x%x-0x%x) is not free RAM: no place for the AP trampoline; starting the boot CPU only\n",
               TRAMPOLINE_PA, TRAMPOLINE_PA + TRAMPOLINE_PAGES * PAGE_SIZE);
        goto done;
    }
    sabotage_read();
    call_ms_read();
    listed = map.count;
    for (unsigned i = 1; i < listed; i++) {
        struct percpu *cpu = &percpus[i];
        /* switch_general 1: the plain switch is the boot CPU's alone (sched.c's sched_plain_ports) */
        *cpu = (struct percpu){.self = cpu, .id = i, .apic_id = map.cpu[i].apic_id, .switch_general = 1};
        if (map_stacks(cpu)) {
            state[i] = CPU_STARTING;
        } else {
            printk("smp: cpu %u (apic id %u): no memory for its stacks: left out\n", i, cpu->apic_id);
            state[i] = CPU_FAILED;
        }
    }
    online += start_aps();
    if (online > 1)
        timer_share_cpus();
    startup_tsc = rdtsc() - tsc0;
    printk("smp: %u APs started in %lu tsc ticks\n", online - 1, startup_tsc);
done:
    printk("cpus: %u online\n", online);
}

/* ---- calls ---- */

static void run_call(struct percpu *cpu)
{
    uint64_t seq = __atomic_load_n(&cpu->call.seq, __ATOMIC_ACQUIRE);
    if (seq == cpu->call.done)
        return;
    cpu->call.fn(cpu->call.arg);
    __atomic_store_n(&cpu->call.done, seq, __ATOMIC_RELEASE);
}

static void ipi_call(struct cpu_regs *regs)
{
    (void)regs;
    struct percpu *cpu = this_cpu();
    cpu->ipis++;
    run_call(cpu);
}

void smp_poll_calls(void) { run_call(this_cpu()); }

/* Takes the call lock, running what others ask of this CPU while it waits. */
static void call_lock_take(void)
{
    struct percpu *me = this_cpu();
    lock_check_acquire(LOCK_CALL);
    while (!spin_trylock_as(&call_lock, me->id)) {
        run_call(me);
        cpu_relax();
    }
}

static void call_lock_release(void)
{
    spin_unlock(&call_lock);
    lock_check_release(LOCK_CALL);
}

static void post(struct percpu *cpu, void (*fn)(void *), void *arg)
{
    cpu->call.fn = fn;
    cpu->call.arg = arg;
    __atomic_store_n(&cpu->call.seq, cpu->call.seq + 1, __ATOMIC_RELEASE);
}

static bool answered(const struct percpu *cpu)
{
    return __atomic_load_n(&cpu->call.done, __ATOMIC_ACQUIRE) == cpu->call.seq;
}

static bool wait_answers(const bool *asked)
{
    uint64_t until = tsc_after_us(CALL_WAIT_MS * 1000ULL);
    for (;;) {
        bool all = true;
        for (unsigned i = 0; i < listed; i++)
            all &= !asked[i] || answered(&percpus[i]);
        if (all)
            return true;
        if (rdtsc() >= until)
            return false;
        cpu_relax();
    }
}

/*
 * Waits for target's answer, without a deadline. An online CPU answers as soon as it runs: in a
 * guest and in the idle halt its interrupts are on, and a CPU waiting for the hypervisor lock or
 * the call lock polls its mailbox; nothing else holds a CPU with interrupts off for long. So the
 * one way it stays silent is not running at all: under TCG on a loaded host a virtual CPU's
 * thread can go unscheduled for seconds. Giving up then would leave the caller without what it
 * cannot do without (a TLB flushed, a vCPU's registers saved, a domain dropped before its frames
 * are freed), and no way on but stopping the machine. So the caller waits; past the patience the
 * wait is reported once, the IPI is sent again now and then (harmless: a request runs once, and
 * it covers an IPI lost to a bug), and the answer, when it comes, is reported with its delay.
 * A CPU that really hangs with interrupts off is then named by that line before a test's timeout.
 * The delay counts from t0, read before the request was posted: a target polling its mailbox can
 * take the request before the IPI is even sent (and the caller's own virtual CPU can be held up
 * in between), so a clock started later would under-report how long the target kept it.
 */
static void wait_patiently(const struct percpu *target, uint64_t t0)
{
    uint64_t khz = tsc_khz() ? tsc_khz() : 1; /* (always calibrated before the first call) */
    uint64_t patience = CALL_PATIENCE_MS * khz, next = t0 + patience;
    bool reported = false;
    while (!answered(target)) {
        cpu_relax();
        uint64_t now = rdtsc();
        if (now < next)
            continue;
        if (!reported)
            printk("smp: cpu %u has not answered a call for %lu ms; waiting (is the host running it?)\n",
                   target->id, (now - t0) / khz);
        reported = true;
        apic_send_ipi(target->apic_id, VEC_IPI_CALL);
        next = now + patience;
    }
    if (reported)
        printk("smp: cpu %u answered the call after %lu ms\n", target->id, (rdtsc() - t0) / khz);
}

bool smp_call(unsigned cpu, void (*fn)(void *), void *arg)
{
    if (!smp_cpu_online(cpu) || cpu == this_cpu()->id)
        return false;
    struct percpu *target = &percpus[cpu];
    call_lock_take();
    uint64_t t0 = rdtsc();
    post(target, fn, arg);
    bool ok = apic_send_ipi(target->apic_id, VEC_IPI_CALL);
    if (ok)
        wait_patiently(target, t0);
    call_lock_release();
    return ok;
}

/* Posts fn to every other online CPU and sends one all-but-self IPI; marks who was asked. */
static unsigned post_others(void (*fn)(void *), void *arg, bool *asked)
{
    unsigned me = this_cpu()->id, n = 0;
    for (unsigned i = 0; i < listed; i++)
        if (i != me && smp_cpu_online(i)) {
            asked[i] = true;
            post(&percpus[i], fn, arg);
            n++;
        }
    if (n && !apic_send_ipi_allbutself(VEC_IPI_CALL))
        for (unsigned i = 0; i < listed; i++)
            asked[i] = false;
    return n;
}

static unsigned count_answers(const bool *asked)
{
    unsigned n = 0;
    for (unsigned i = 0; i < listed; i++)
        n += asked[i] && answered(&percpus[i]);
    return n;
}

unsigned smp_call_others(void (*fn)(void *), void *arg)
{
    bool asked[MOAT_MAX_CPUS] = {false};
    call_lock_take();
    if (post_others(fn, arg, asked))
        wait_answers(asked);
    unsigned n = count_answers(asked);
    call_lock_release();
    return n;
}

unsigned smp_call_each(void (*fn)(void *), void *arg)
{
    bool asked[MOAT_MAX_CPUS] = {false};
    call_lock_take();
    bool others = post_others(fn, arg, asked);
    fn(arg); /* this CPU's share, while the others run theirs */
    if (others)
        wait_answers(asked);
    unsigned n = count_answers(asked) + 1;
    call_lock_release();
    return n;
}

void smp_stop_others(void)
{
    if (online > 1)
        apic_send_ipi_allbutself(VEC_IPI_STOP);
}

/* ---- bench=smp ---- */

static void nothing(void *arg) { (void)arg; }

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

static void sort(uint64_t *v, unsigned n)
{
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && cmp_u64(v[j - 1], v[j]) > 0; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

static void report(const char *name, uint64_t *v, unsigned n)
{
    sort(v, n);
    printk("bench: %s min=%lu median=%lu max=%lu n=%u unit=instructions\n", name, v[0], v[(n - 1) / 2], v[n - 1], n);
}

void smp_bench(void)
{
    enum { N = 200 };
    static uint64_t t[N];
    if (online < 2) {
        printk("bench: error: ipi_round_trip needs a second CPU online (cpus = 2 or more)\n");
        return;
    }
    printk("bench: ap_startup min=%lu median=%lu max=%lu n=1 unit=instructions\n", startup_tsc, startup_tsc,
           startup_tsc);
    /* Round trip: an IPI to CPU 1, which runs an empty call and acknowledges; the rdtsc pair excluded. */
    for (unsigned i = 0; i < N; i++) {
        uint64_t t0 = rdtsc();
        bool ok = smp_call(1, nothing, NULL);
        uint64_t t1 = rdtsc();
        if (!ok) {
            printk("bench: error: cpu 1 did not answer call %u\n", i);
            return;
        }
        t[i] = t1 - t0;
    }
    report("ipi_round_trip", t, N);
    for (unsigned i = 0; i < N; i++) {
        uint64_t t0 = rdtsc();
        unsigned answers = smp_call_others(nothing, NULL);
        uint64_t t1 = rdtsc();
        if (answers != online - 1) {
            printk("bench: error: %u of %u CPUs answered broadcast %u\n", answers, online - 1, i);
            return;
        }
        t[i] = t1 - t0;
    }
    report("ipi_broadcast_round_trip", t, N);
}
