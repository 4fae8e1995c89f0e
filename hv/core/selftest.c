// SPDX-License-Identifier: MIT
// Self-tests of the hypervisor itself, compiled only into the test build (CONFIG_SELFTEST).
// Each ends with one XTF-style "Test result:" line and stops the machine; the fault tests end in
// the exception handler, whose dump the boot tests check.
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/paging.h>
#include <moat/selftest.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <moat/x86.h>

#ifdef CONFIG_SELFTEST

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            printk("check failed: %s: ", #cond);                                                                       \
            printk(__VA_ARGS__);                                                                                       \
            printk("\n");                                                                                              \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

static noreturn void finish(void)
{
    printk("Test result: %s\n", failures ? "FAILURE" : "SUCCESS");
    machine_stop(failures ? STOP_FAILURE : STOP_SUCCESS);
}

/* Frame allocator: counters, distinct zeroed frames, exhaustion, and the return to baseline. */
static void test_memory(void)
{
    struct frame_stats base, s;
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
    }
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

    /* Protections the hypervisor promises. */
    CHECK(paging_count_wx() == 0, "%lu pages are writable and executable", paging_count_wx());
    int level;
    uint64_t pte = paging_lookup((vaddr_t)&failures, &level);
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

/* Each fault test names its function selftest_fault_* so that the symbolized rip identifies it. */
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
    {"fault:pf", selftest_fault_pf}, {"fault:df", selftest_fault_df},
};

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
    for (unsigned i = 0; i < ARRAY_SIZE(fault_tests); i++) {
        if (!strcmp(name, fault_tests[i].name)) {
            fault_tests[i].fn();
            printk("selftest: %s did not fault\n", name);
            failures++;
            finish();
        }
    }
    printk("Test result: ERROR: unknown selftest '%s'\n", name);
    machine_stop(STOP_FAILURE);
}

#else

void selftest_run(const char *name) { (void)name; }

#endif
