// SPDX-License-Identifier: MIT
// Self-tests of the hypervisor itself, compiled only into the test build (CONFIG_SELFTEST).
// Each ends with one XTF-style "Test result:" line and stops the machine; the fault tests end in
// the exception handler, whose dump the boot tests check.
#include <moat/apic.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/frame.h>
#include <moat/hvlock.h>
#include <moat/lib.h>
#include <moat/multiboot.h>
#include <moat/paging.h>
#include <moat/selftest.h>
#include <moat/shutdown.h>
#include <moat/smp.h>
#include <moat/spinlock.h>
#include <moat/timer.h>
#include <moat/x86.h>

#ifdef CONFIG_SELFTEST

/* Counted by CHECK() (moat/selftest.h) here and in hv/core/selftest_lib.c. */
int selftest_failures;
unsigned selftest_checks;

static noreturn void finish(void)
{
    printk("Test result: %s\n", selftest_failures ? "FAILURE" : "SUCCESS");
    machine_stop(selftest_failures ? STOP_FAILURE : STOP_SUCCESS);
}

extern char _image_start_phys[], _bss_end_phys[];

/* What frame mfn's record must say, from the memory map alone: absent outside every available
 * range, reserved in low memory, the image and the modules, anything but absent elsewhere. */
static bool frame_record_fits_map(mfn_t mfn, const struct frame *f)
{
    paddr_t pa = mfn << PAGE_SHIFT, end = pa + PAGE_SIZE;
    bool available = false, reserved = pa < 0x100000 || (pa < (paddr_t)_bss_end_phys && end > (paddr_t)_image_start_phys);
    for (unsigned i = 0; i < boot_info.mem_count; i++)
        if (boot_info.mem[i].start < end && pa < boot_info.mem[i].end) {
            if (boot_info.mem[i].type != MMAP_AVAILABLE)
                reserved = true;
            else if (boot_info.mem[i].start <= pa && end <= boot_info.mem[i].end)
                available = true;
        }
    for (unsigned i = 0; i < boot_info.module_count; i++)
        reserved |= boot_info.modules[i].start < end && pa < boot_info.modules[i].end;
    if (!available)
        return f->use == FRAME_ABSENT;
    if (reserved)
        return f->use == FRAME_RESERVED && f->owner == DOMID_HV;
    return f->use != FRAME_ABSENT;
}

/* The lazily written frame table (frame.c): a lookup far above the written prefix, then every
 * frame in turn downwards, finds records that agree with the memory map. */
static void test_frame_table(void)
{
    mfn_t size, ready = frame_table_ready(&size);
    CHECK(ready < size, "the whole table (%lu records) is written (%lu)", size, ready);
    CHECK(frame_info(size) == NULL, "a record past the table's end");
    unsigned bad = 0;
    for (mfn_t m = size; m-- > 0;) /* the first lookup is the table's last record */
        if (!frame_record_fits_map(m, frame_info(m)) && bad++ < 4)
            printk("selftest: frame 0x%lx: use %u owner 0x%x does not fit the memory map\n", m,
                   frame_info(m)->use, frame_info(m)->owner);
    CHECK(bad == 0, "%u frame records do not fit the memory map", bad);
    CHECK(frame_table_ready(&size) == size, "the table is written up to %lu of %lu", frame_table_ready(&size), size);
}

/* Frame allocator: counters, distinct zeroed frames, exhaustion, and the return to baseline. */
static void test_memory(void)
{
    struct frame_stats base, s;
    mfn_t size, ready = frame_table_ready(&size);
    frame_get_stats(&base);
    CHECK(base.free + base.used + base.reserved == base.total, "%lu+%lu+%lu != %lu", base.free, base.used,
          base.reserved, base.total);

    enum { N = 512 };
    static mfn_t got[N];
    for (unsigned i = 0; i < N; i++) {
        got[i] = frame_alloc(FRAME_HV, DOMID_HV);
        CHECK(got[i] != INVALID_MFN, "allocation %u failed", i);
        if (got[i] == INVALID_MFN)
            finish();
        CHECK(!frame_is_reserved(got[i]), "frame 0x%lx is reserved", got[i]);
        const uint64_t *p = mfn_to_virt(got[i]);
        bool zero = true;
        for (unsigned w = 0; w < PAGE_SIZE / 8; w++)
            zero &= p[w] == 0;
        CHECK(zero, "frame 0x%lx not zeroed", got[i]);
        *(uint64_t *)mfn_to_virt(got[i]) = got[i] ^ 0x5a5a5a5a5a5a5a5aULL;
        const struct frame *f = frame_info(got[i]);
        CHECK(f->use == FRAME_HV && f->owner == DOMID_HV && f->refcount == 1, "frame 0x%lx: use %u owner 0x%x refs %u",
              got[i], f->use, f->owner, f->refcount);
    }
    /* They came from beyond the table's part written at boot, and upwards (the frames never
     * handed out go in ascending order once the freed ones are used up). */
    CHECK(frame_table_ready(&size) > ready, "%d allocations stayed inside the %lu records written at boot", N, ready);
    for (unsigned i = 1; i < N; i++)
        CHECK(got[i] > got[i - 1], "allocation %u: frame 0x%lx after 0x%lx", i, got[i], got[i - 1]);
    CHECK(frame_info(got[N - 1] + 1)->use != FRAME_ABSENT, "the frame above the last allocated has no record");
    test_frame_table();
    for (unsigned i = 0; i < N; i++) /* distinct: each still holds its own stamp */
        CHECK(*(uint64_t *)mfn_to_virt(got[i]) == (got[i] ^ 0x5a5a5a5a5a5a5a5aULL), "frame 0x%lx shared", got[i]);
    frame_get_stats(&s);
    CHECK(s.used == base.used + N && s.free == base.free - N, "counters after %d allocations: used=%lu free=%lu", N,
          s.used, s.free);
    for (unsigned i = 0; i < N; i++)
        frame_free(got[i]);

    /* Exhaustion: every free frame can be taken, then allocation fails cleanly, and all come back. */
    mfn_t head = INVALID_MFN;
    uint64_t taken = 0;
    for (;;) {
        mfn_t m = frame_alloc(FRAME_HV, DOMID_HV);
        if (m == INVALID_MFN)
            break;
        *(mfn_t *)mfn_to_virt(m) = head;
        head = m;
        taken++;
    }
    CHECK(taken == base.free, "took %lu frames of %lu free", taken, base.free);
    frame_get_stats(&s);
    CHECK(s.free == 0, "free=%lu after exhaustion", s.free);
    while (head != INVALID_MFN) {
        mfn_t next = *(mfn_t *)mfn_to_virt(head);
        frame_free(head);
        head = next;
    }
    frame_get_stats(&s);
    CHECK(s.free == base.free && s.used == base.used, "not back at baseline: free=%lu used=%lu", s.free, s.used);
    printk("memory: %lu frames allocated and freed; free=%lu back at baseline\n", taken, s.free);

    /* The audit of the figures printed at stop: it agrees now, and notices a table entry that does not. */
    CHECK(frame_audit(), "the frame table and the counters disagree");
    mfn_t spare = frame_alloc(FRAME_HV, DOMID_HV);
    frame_free(spare); /* spare is now the head of the free list */
    struct frame *f = frame_info(spare);
    f->use = FRAME_HV; /* behind the counters' back */
    CHECK(!frame_audit(), "a free frame marked in use went unnoticed");
    f->use = FRAME_FREE;
    CHECK(frame_audit(), "the audit still fails once the entry is restored");

    /* Protections the hypervisor promises. */
    CHECK(paging_count_wx() == 0, "%lu pages are writable and executable", paging_count_wx());
    int level;
    uint64_t pte = paging_lookup((vaddr_t)&selftest_failures, &level);
    CHECK(pte && (pte & PTE_NX) && (pte & PTE_W), "data page pte=0x%lx", pte);
    pte = paging_lookup((vaddr_t)test_memory, &level);
    CHECK(pte && !(pte & PTE_NX) && !(pte & PTE_W), "text page pte=0x%lx", pte);
    pte = paging_lookup(DIRECTMAP_BASE + 0x200000, &level);
    CHECK(pte && (pte & PTE_NX), "direct map pte=0x%lx", pte);
    CHECK(paging_lookup(0, NULL) == 0, "the boot identity map is still present");
    CHECK(paging_lookup((vaddr_t)kstack_boot_top - KSTACK_SIZE - 1, NULL) == 0, "stack guard page is mapped");
    CHECK(!!(read_cr4() & CR4_SMEP) == cpu_features.smep, "SMEP state does not match CPUID");
    CHECK(!!(read_cr4() & CR4_SMAP) == cpu_features.smap, "SMAP state does not match CPUID");
    finish();
}

/*
 * The tick: interrupts arrive at TICK_HZ as measured by the (independently calibrated) TSC. Ticks
 * are never early; under plain TCG on a busy host they can be late (QEMU's timer follows host
 * time), so the bound here is loose and the exact rate is checked under -icount by the boot test.
 */
static void test_timer(void)
{
    enum { TICKS = 50 };
    uint64_t start_ticks = timer_ticks();
    sti();
    while (timer_ticks() == start_ticks) /* align to a tick edge */
        halt();
    uint64_t t0 = now_ns(), first = timer_ticks();
    uint64_t prev = first;
    while (timer_ticks() < first + TICKS) {
        halt();
        CHECK(timer_ticks() >= prev, "tick count went backwards");
        prev = timer_ticks();
    }
    uint64_t elapsed_us = (now_ns() - t0) / 1000;
    cli();
    uint64_t expect_us = TICKS * 1000000ULL / TICK_HZ;
    printk("timer: %d ticks in %lu us (expected %lu us)\n", TICKS, elapsed_us, expect_us);
    CHECK(elapsed_us > expect_us * 3 / 4 && elapsed_us < expect_us * 4, "tick rate off: %lu us", elapsed_us);
    finish();
}

/* ---- SMP: every CPU up with its own state, the same features, a ticking timer, answering IPIs ---- */

struct cpu_report {
    unsigned id;
    uint32_t apic_id;
    uint64_t gs_base, gdt_base, idt_base, tss_base, rsp;
    uint16_t tr;
    uint64_t cr0, cr4, efer, xcr0;
};

struct descriptor_table {
    uint16_t limit;
    uint64_t base;
} packed;

static void cpu_report(void *arg)
{
    struct cpu_report *r = &((struct cpu_report *)arg)[this_cpu()->id];
    struct descriptor_table gdtr, idtr;
    uint16_t tr;
    __asm__ volatile("sgdt %0; sidt %1; str %2" : "=m"(gdtr), "=m"(idtr), "=r"(tr));
    const uint64_t *gdt = (const uint64_t *)gdtr.base;
    uint64_t lo = gdt[tr / 8], hi = gdt[tr / 8 + 1];
    r->id = this_cpu()->id;
    r->apic_id = lapic_id();
    r->gs_base = rdmsr(MSR_GS_BASE);
    r->gdt_base = gdtr.base;
    r->idt_base = idtr.base;
    r->tr = tr;
    r->tss_base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | (hi << 32);
    r->rsp = (uint64_t)__builtin_frame_address(0);
    r->cr0 = read_cr0();
    r->cr4 = read_cr4();
    r->efer = rdmsr(MSR_EFER);
    r->xcr0 = (read_cr4() & CR4_OSXSAVE) ? xgetbv(0) : 0;
}

static spinlock_t hammer_lock; /* SPINLOCK_INIT is all zeros: in .bss */
static volatile uint64_t hammer_count;
static unsigned hammer_arrived;
/*
 * Few rounds: a ticket lock hands over in strict order, and under QEMU on a busy host the next
 * CPU in line may be a host thread that is not running. The start barrier makes them overlap.
 */
enum { HAMMER_ROUNDS = 500 };

static void hammer(void *arg)
{
    unsigned cpus = *(const unsigned *)arg;
    __atomic_fetch_add(&hammer_arrived, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&hammer_arrived, __ATOMIC_ACQUIRE) < cpus)
        cpu_relax();
    for (unsigned i = 0; i < HAMMER_ROUNDS; i++) {
        spin_lock(&hammer_lock);
        /* A read, a pause (under -icount another CPU runs then), a write: without the lock,
         * increments would be lost. */
        uint64_t seen = hammer_count;
        for (unsigned k = 0; k < 4; k++)
            cpu_relax();
        hammer_count = seen + 1;
        spin_unlock(&hammer_lock);
    }
}

static void echo_id(void *arg) { *(unsigned *)arg = this_cpu()->id; }

/*
 * this_cpu_careful(), as an NMI or #MC handler uses it: GS may be the guest's (between a swapgs and
 * the sysret), or anything at all; only the start of a per-CPU block that points at itself counts.
 * Interrupts are off, and nothing here reads through GS until both MSRs are back.
 */
struct careful_report {
    struct percpu *me, *got[4];
};

static void careful_percpu_here(void *arg)
{
    struct careful_report *rep = arg;
    struct percpu *me = this_cpu();
    struct percpu **got = rep->got;
    rep->me = me;
    uint64_t gs = rdmsr(MSR_GS_BASE), kgs = rdmsr(MSR_KERNEL_GS_BASE);
    __asm__ volatile("swapgs" ::: "memory"); /* as on the way to a guest: GS 0, ours in KERNEL_GS_BASE */
    got[0] = this_cpu_careful();
    __asm__ volatile("swapgs" ::: "memory");
    wrmsr(MSR_GS_BASE, (uint64_t)me + 8); /* inside the array, not at a block's start */
    got[1] = this_cpu_careful();
    wrmsr(MSR_GS_BASE, (uint64_t)&percpus[MOAT_MAX_CPUS - 1]); /* a block never set up: self is not itself */
    wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)me);
    got[2] = this_cpu_careful();
    wrmsr(MSR_GS_BASE, (uint64_t)&percpus[MOAT_MAX_CPUS]); /* just past the array */
    wrmsr(MSR_KERNEL_GS_BASE, 0);
    got[3] = this_cpu_careful();
    wrmsr(MSR_GS_BASE, gs);
    wrmsr(MSR_KERNEL_GS_BASE, kgs);
}

/* On an AP when there is one (so that the boot CPU's block, the fallback, is not also the answer). */
static void test_careful_percpu(void)
{
    struct careful_report rep = {0};
    if (!smp_call(1, careful_percpu_here, &rep))
        careful_percpu_here(&rep);
    struct percpu *me = rep.me, **got = rep.got;
    CHECK(me == &percpus[smp_cpu_online(1) ? 1 : 0], "ran on %p", (void *)me);
    CHECK(got[0] == me, "with the guest's GS: %p, not %p", (void *)got[0], (void *)me);
    CHECK(got[1] == &percpus[0], "a GS inside a block: %p, not the boot CPU's", (void *)got[1]);
    CHECK(got[2] == me, "an unused block in GS, ours in KERNEL_GS_BASE: %p, not %p", (void *)got[2], (void *)me);
    CHECK(got[3] == &percpus[0], "a GS past the array: %p, not the boot CPU's", (void *)got[3]);
}

static void test_smp(void)
{
    static struct cpu_report r[MOAT_MAX_CPUS];
    unsigned listed = smp_cpus_listed(), online = smp_cpus_online();
    printk("smp: %u of %u CPUs online\n", online, listed);
    cpu_report(r);
    unsigned seen = 1;
    for (unsigned i = 1; i < listed; i++) {
        if (!smp_cpu_online(i))
            continue;
        seen++;
        unsigned echoed = ~0u;
        CHECK(smp_call(i, echo_id, &echoed) && echoed == i, "cpu %u did not answer a call (got %u)", i, echoed);
        CHECK(smp_call(i, cpu_report, r), "cpu %u did not report", i);
    }
    CHECK(seen == online, "%u CPUs answer, %u are online", seen, online);
    /* A call to oneself would wait for its own answer, one to a CPU that is not online for ever. */
    unsigned untouched = ~0u;
    CHECK(!smp_call(this_cpu()->id, echo_id, &untouched) && untouched == ~0u, "a call to the calling CPU was posted");
    CHECK(!smp_call(listed, echo_id, &untouched) && !smp_call(MOAT_MAX_CPUS, echo_id, &untouched) &&
              untouched == ~0u,
          "a call to a CPU that is not online was posted");
    CHECK(!smp_cpu_online(MOAT_MAX_CPUS) && !smp_cpu_online(~0u), "a CPU past the limit counts as online");
    test_careful_percpu();
    for (unsigned i = 0; i < listed; i++) {
        if (!smp_cpu_online(i))
            continue;
        const struct percpu *p = &percpus[i];
        CHECK(r[i].id == i && r[i].apic_id == p->apic_id, "cpu %u reports id %u apic %u", i, r[i].id, r[i].apic_id);
        CHECK(r[i].gs_base == (uint64_t)p && p->self == p, "cpu %u: GS base 0x%lx is not its percpu", i, r[i].gs_base);
        CHECK(r[i].tr == SEL_TSS && r[i].tss_base == (uint64_t)&p->tss, "cpu %u: TR 0x%x TSS 0x%lx", i, r[i].tr,
              r[i].tss_base);
        CHECK(r[i].idt_base == r[0].idt_base, "cpu %u loads another IDT", i);
        CHECK(r[i].rsp < p->kstack_top && r[i].rsp >= p->kstack_top - KSTACK_SIZE,
              "cpu %u runs on 0x%lx, outside its stack below 0x%lx", i, r[i].rsp, p->kstack_top);
        CHECK(r[i].cr0 == r[0].cr0 && r[i].cr4 == r[0].cr4 && r[i].efer == r[0].efer && r[i].xcr0 == r[0].xcr0,
              "cpu %u: cr0 0x%lx cr4 0x%lx efer 0x%lx xcr0 0x%lx; the boot CPU's: 0x%lx 0x%lx 0x%lx 0x%lx", i,
              r[i].cr0, r[i].cr4, r[i].efer, r[i].xcr0, r[0].cr0, r[0].cr4, r[0].efer, r[0].xcr0);
        /* Every stack of this CPU sits above an unmapped guard page. */
        uint64_t tops[4] = {p->kstack_top, p->ist_top[0], p->ist_top[1], p->ist_top[2]};
        for (unsigned k = 0; k < 4; k++)
            CHECK(paging_lookup(tops[k] - KSTACK_SIZE - 1, NULL) == 0 && is_guard_page(tops[k] - KSTACK_SIZE - 1) &&
                      paging_lookup(tops[k] - 8, NULL) != 0,
                  "cpu %u stack %u (top 0x%lx) has no guard page", i, k, tops[k]);
        for (unsigned j = 0; j < i; j++) {
            if (!smp_cpu_online(j))
                continue;
            CHECK(r[i].apic_id != r[j].apic_id && r[i].gs_base != r[j].gs_base && r[i].gdt_base != r[j].gdt_base &&
                      r[i].tss_base != r[j].tss_base && p->kstack_top != percpus[j].kstack_top &&
                      p->ist_top[0] != percpus[j].ist_top[0],
                  "cpus %u and %u share per-CPU state", j, i);
        }
    }
    printk("smp: per-CPU state checked on %u CPUs (GS base, GDT, TSS, stacks distinct; same CR0/CR4/EFER/XCR0)\n",
           seen);

    /* Every CPU's own tick, counted while the boot CPU counts TICKS of its own. */
    enum { TICKS = 50 };
    uint64_t before[MOAT_MAX_CPUS] = {0}, start = timer_ticks(); /* before[0]: the boot CPU, always listed */
    sti();
    while (timer_ticks() == start)
        halt();
    for (unsigned i = 0; i < listed; i++)
        before[i] = __atomic_load_n(&percpus[i].ticks, __ATOMIC_RELAXED);
    while (timer_ticks() < before[0] + TICKS)
        halt();
    cli();
    for (unsigned i = 1; i < listed; i++) {
        if (!smp_cpu_online(i))
            continue;
        uint64_t d = __atomic_load_n(&percpus[i].ticks, __ATOMIC_RELAXED) - before[i];
        printk("smp: cpu %u: %lu ticks while cpu 0 counted %d\n", i, d, TICKS);
        /* Plain TCG runs each CPU in a host thread that a busy host may starve: bound loosely here,
         * exactly under -icount (the boot test). */
        CHECK(d >= TICKS / 4 && d <= TICKS * 2, "cpu %u's timer is not ticking at its rate: %lu ticks", i, d);
    }

    /* IPIs: to all others at once, and every CPU taking one lock in turn. */
    unsigned answers = smp_call_others(echo_id, &(unsigned){0});
    CHECK(answers == online - 1, "%u of %u CPUs answered an all-but-self IPI", answers, online - 1);
    unsigned ran = smp_call_each(hammer, &online);
    CHECK(ran == online && hammer_count == (uint64_t)ran * HAMMER_ROUNDS, "spinlock: %u CPUs, count %lu, expected %lu",
          ran, hammer_count, (uint64_t)ran * HAMMER_ROUNDS);
    printk("smp: %u CPUs answered IPIs; %u CPUs took one spinlock %lu times in all\n", online, ran, hammer_count);
    finish();
}

/* Each fault test names its function selftest_fault_* so that the symbolized rip identifies it. */
/* The formatter every printk goes through (hv/lib/format.c, shared with the guests): each
 * conversion, flag, width and precision it knows, and vsnprintf's bounds. The buffer is filled
 * with '#' first: nothing may be written at or past `size`, and the string must end inside it.
 * The helper takes the format as a plain argument (no format attribute), so that the unknown
 * conversion and the lone '%' can be tested as written. */
static unsigned format_cases;

static void format_case(const char *want, int want_n, size_t size, const char *fmt, ...)
{
    char buf[64];
    memset(buf, '#', sizeof(buf));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    format_cases++;
    CHECK(n == (want_n < 0 ? (int)strlen(want) : want_n), "'%s': returned %d", fmt, n);
    if (size == 0) {
        CHECK(buf[0] == '#', "'%s' with size 0 wrote a byte", fmt);
        return;
    }
    CHECK(strnlen(buf, size) < size && !strcmp(buf, want), "'%s' (size %lu): got '%.*s', want '%s'", fmt, size,
          (int)strnlen(buf, size), buf, want);
    for (size_t i = size; i < sizeof(buf); i++)
        CHECK(buf[i] == '#', "'%s' (size %lu) wrote at %lu", fmt, size, i);
}

static void test_format(void)
{
    const size_t all = 64;
    format_case("-5|0|42", -1, all, "%d|%i|%d", -5, 0, 42);
    format_case("   42|42   |-0042|7    |", -1, all, "%5d|%-5d|%05d|%-05d|", 42, 42, -42, 7);
    format_case("-9223372036854775808", -1, all, "%ld", (int64_t)INT64_MIN);
    format_case("4294967295|18446744073709551615|12", -1, all, "%u|%lu|%zu", 4294967295u, (uint64_t)UINT64_MAX,
                (size_t)12);
    format_case("beef|BEEF|0xbeef|0XBEEF", -1, all, "%x|%X|%#x|%#X", 0xbeef, 0xbeef, 0xbeef, 0xbeef);
    format_case("0x0000beef|    0xbeef|0xbeef    |", -1, all, "%#010x|%#10x|%-#10x|", 0xbeef, 0xbeef, 0xbeef);
    format_case("ffffffffffffffff|10|0", -1, all, "%llx|%lx|%x", (unsigned long long)UINT64_MAX, 16ul, 0);
    format_case("0x1000|   0x1000", -1, all, "%p|%9p", (void *)0x1000, (void *)0x1000);
    format_case("abc|(null)|ab|  abc|abc  |  abc", -1, all, "%s|%s|%.2s|%5s|%-5s|%05s", "abc", (const char *)0,
                "abc", "abc", "abc", "abc");
    format_case("a|abc|abc|    a|", -1, all, "%.*s|%.*s|%.10s|%5.1s|", 1, "abc", -1, "abc", "abc", "abc");
    format_case("   7|7   |", -1, all, "%*d|%*d|", 4, 7, -4, 7);
    format_case("x|  x|x  |  x", -1, all, "%c|%3c|%-3c|%03c", 'x', 'x', 'x', 'x');
    format_case("5|%|%q|end%", -1, all, "%.3d|%%|%q|end%", 5);
    /* vsnprintf's bounds: the count is of what the whole output would be. */
    format_case("abc", 6, 4, "%s", "abcdef");
    format_case("abc", 3, 4, "abc");
    format_case("", 3, 1, "xyz");
    format_case("", 3, 0, "xyz");
    format_case("-00", 5, 4, "%05d", -42);
    printk("selftest: format: %u cases\n", format_cases);
    finish();
}

static volatile uint64_t zero_divisor;

static noinline void selftest_fault_de(void)
{
    uint64_t q;
    __asm__ volatile("xorl %%edx, %%edx; movq $1, %%rax; divq %1" : "=a"(q) : "r"(zero_divisor) : "rdx");
    printk("divided by zero: %lu\n", q);
}

static noinline void selftest_fault_ud(void) { __asm__ volatile("ud2"); }

static noinline void selftest_fault_gp(void)
{
    /* A non-canonical address: #GP, not #PF. */
    uint64_t v;
    __asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(0x8000000000000000ULL));
    printk("read %lu\n", v);
}

static noinline void selftest_fault_pf(void) { *(volatile uint64_t *)0x1000 = 1; }

static noinline void selftest_fault_pf_read(void)
{
    uint64_t v = *(volatile uint64_t *)0x1000;
    printk("read %lu\n", v);
}

static noinline void selftest_fault_pf_text(void)
{
    /* The hypervisor's code is mapped read-only (W^X): a write to it is a protection violation. */
    uintptr_t text = (uintptr_t)selftest_fault_pf_read;
    __asm__ volatile("" : "+r"(text)); /* an address, not a function, to the analyzer */
    *(volatile uint8_t *)text = 0xc3;
}

static uint8_t selftest_data_ret[16] = {0xc3}; /* a `ret`, in a data page: never executable */

static noinline void selftest_fault_pf_fetch(void)
{
    void (*fn)(void) = (void (*)(void))(uintptr_t)selftest_data_ret;
    __asm__ volatile("" : "+r"(fn)); /* the compiler may not know where fn points */
    fn();
}

/* 40 frames deep, then #UD: the report's backtrace stops at its limit of 24 frames. */
static noinline void selftest_fault_deep_frame(unsigned depth)
{
    if (depth)
        selftest_fault_deep_frame(depth - 1);
    else
        __asm__ volatile("ud2");
    __asm__ volatile("" ::: "memory"); /* no tail call: every level keeps its frame */
}

static noinline void selftest_fault_deep(void) { selftest_fault_deep_frame(40); }

static noinline void selftest_fault_nested(void)
{
    /* As if the report of one exception raised another: the second report stops the machine at once. */
    this_cpu()->in_fatal_exception = true;
    selftest_fault_ud();
}

static noinline void selftest_fault_df(void)
{
    /* A push onto an unmapped stack faults, and delivering that #PF needs the same stack: #DF. */
    __asm__ volatile("movq $0xffffffff7ff00000, %%rsp; pushq $0" ::: "memory");
}

static const struct {
    const char *name;
    void (*fn)(void);
} fault_tests[] = {
    {"fault:de", selftest_fault_de}, {"fault:ud", selftest_fault_ud}, {"fault:gp", selftest_fault_gp},
    {"fault:pf", selftest_fault_pf}, {"fault:df", selftest_fault_df}, {"fault:pf-read", selftest_fault_pf_read},
    {"fault:pf-text", selftest_fault_pf_text}, {"fault:pf-fetch", selftest_fault_pf_fetch},
    {"fault:nested", selftest_fault_nested}, {"fault:deep", selftest_fault_deep},
};

/*
 * The console under a reader that stops reading (tests/boot/test_console_stall.py): 2,000 lines
 * of 100 bytes, each saying its number and a pattern made from it, so that the test can tell any
 * character lost, doubled or out of place. 200 KB is three times a host pipe's 64 KiB: while the
 * test does not read, QEMU's UART holds each character back and serial_putc must wait.
 */
static void test_console(void)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    char pattern[73];
    for (unsigned line = 0; line < 2000; line++) {
        for (unsigned i = 0; i < sizeof(pattern) - 1; i++)
            pattern[i] = digits[(line * 7 + i) % (sizeof(digits) - 1)];
        pattern[sizeof(pattern) - 1] = '\0';
        printk("selftest: console %04u %s\n", line, pattern);
    }
    finish();
}

void selftest_entry_check(const struct cpu_regs *regs)
{
    if (!(read_rflags() & RFLAGS_AC))
        return;
    printk("selftest: EFLAGS.AC is set in the hypervisor on entry (vector %lu from rip 0x%lx): SMAP is off\n",
           regs->vector, regs->rip);
    printk("Test result: FAILURE\n");
    machine_stop(STOP_FAILURE);
}

void selftest_run(const char *name)
{
    printk("selftest: %s\n", name);
    if (!strcmp(name, "memory"))
        test_memory();
    if (!strcmp(name, "timer"))
        test_timer();
    if (!strcmp(name, "smp"))
        test_smp();
    if (!strcmp(name, "format"))
        test_format();
    if (!strcmp(name, "console"))
        test_console();
    /* Shared library code (hv/core/selftest_lib.c). */
    if (!strcmp(name, "sha256")) {
        selftest_sha256();
        finish();
    }
    if (!strcmp(name, "fwlog")) {
        selftest_fwlog();
        finish();
    }
    if (!strcmp(name, "tpm")) {
        selftest_tpm();
        finish();
    }
    /* The debug build's lock checks (moat/hvlock.h): each must stop the machine with its line. */
    if (!strcmp(name, "lock_order")) {
        lock_check_acquire(LOCK_CALL);
        lock_check_acquire(LOCK_HV); /* out of order: stops here */
        printk("Test result: FAILURE: taking the hypervisor lock under the call lock was not caught\n");
        machine_stop(STOP_FAILURE);
    }
    if (!strcmp(name, "lock_held")) {
        lock_check_acquire(LOCK_HV);
        lock_check_none_held("returns to a guest"); /* what exit_to_guest checks: stops here */
        printk("Test result: FAILURE: a lock held on the way to a guest was not caught\n");
        machine_stop(STOP_FAILURE);
    }
    if (!strcmp(name, "lock_release")) {
        lock_check_release(LOCK_CALL); /* never taken: stops here */
        printk("Test result: FAILURE: releasing a lock that is not held was not caught\n");
        machine_stop(STOP_FAILURE);
    }
    for (unsigned i = 0; i < ARRAY_SIZE(fault_tests); i++) {
        if (!strcmp(name, fault_tests[i].name)) {
            fault_tests[i].fn();
            printk("selftest: %s did not fault\n", name);
            selftest_failures++;
            finish();
        }
    }
    printk("Test result: ERROR: unknown selftest '%s'\n", name);
    machine_stop(STOP_FAILURE);
}

#else

void selftest_run(const char *name) { (void)name; }

#endif
