// SPDX-License-Identifier: MIT
// Extended CPU state (FPU, SSE, AVX): choosing what the hypervisor enables, a clean area for each
// new vCPU, and the eager switch (see moat/xsave.h). The restore instructions are in xrstor.S,
// where a fault (a state the CPU refuses) resumes at a fixup instead of stopping the machine.
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/domain.h>
#include <moat/hvlock.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/shutdown.h>
#include <moat/smp.h>
#include <moat/timer.h>
#include <moat/x86.h>
#include <moat/xsave.h>

/* The legacy (FXSAVE) region at the start of every save area. */
struct fxsave_legacy {
    uint16_t fcw, fsw;
    uint8_t ftw, reserved0;
    uint16_t fop;
    uint64_t fip, fdp;
    uint32_t mxcsr, mxcsr_mask;
    uint8_t st[8][16];
    uint8_t xmm[16][16];
    uint8_t reserved1[96];
};
_Static_assert(sizeof(struct fxsave_legacy) == 512, "FXSAVE layout");
_Static_assert(__builtin_offsetof(struct fxsave_legacy, mxcsr) == XSAVE_MXCSR_OFFSET, "xsave_switch's MXCSR");

struct xsave_fast_path xsave_fast;

/* The XSAVE header (64 bytes at offset 512), as the CPU lays it out. */
struct xsave_header {
    uint64_t xstate_bv, xcomp_bv;
    /* cppcheck-suppress unusedStructMember ; reserved by the CPU: part of the layout, never touched */
    uint64_t reserved[6];
};
_Static_assert(sizeof(struct xsave_header) == 64, "XSAVE header layout");
#define XSAVE_HEADER_OFFSET 512
#define XCOMP_BV_COMPACTED (1ULL << 63)

#define FCW_INIT 0x037f   /* every x87 exception masked, 64-bit precision, round to nearest */
#define MXCSR_INIT 0x1f80 /* every SIMD exception masked, round to nearest */
#define MXCSR_MASK_DEFAULT 0xffbf /* when FXSAVE reports 0 (CPUs without DAZ) */

/* The instruction pair in use (xsave_init picks it). */
enum xsave_kind { XSAVE_KIND_FXSAVE, XSAVE_KIND_XSAVE, XSAVE_KIND_XSAVEOPT, XSAVE_KIND_XSAVES };
static enum xsave_kind kind = XSAVE_KIND_FXSAVE;
static uint64_t xcr0;
static size_t area_size = sizeof(struct fxsave_legacy);
static uint32_t mxcsr_mask = MXCSR_MASK_DEFAULT;
static uint8_t probe_area[PAGE_SIZE] aligned(64);
/* The clean state; the registers are loaded from it when a vCPU's own state is refused. */
static uint8_t clean_area[PAGE_SIZE] aligned(64);

static const char *const kind_names[] = {"fxsave", "xsave", "xsaveopt", "xsaves"};

static void selftest_stall_read(void); /* xsave_stall_ms= (test-only, with the hand-off below) */

/* Restores from area; 0, or -1 if the CPU refused it (xrstor.S, with a fixup). xrstor_checked: moat/xsave.h */
long xrstors_checked(const void *area, uint64_t mask);
long fxrstor_checked(const void *area);

/* Inlined into the switch (xsave_switch_slow): a call and a second test of kind cost more than the save. */
static inline __attribute__((always_inline)) void save(void *area)
{
    uint32_t lo = (uint32_t)xcr0, hi = (uint32_t)(xcr0 >> 32);
    switch (kind) {
    case XSAVE_KIND_FXSAVE:
        __asm__ volatile("fxsave64 (%0)" ::"r"(area) : "memory");
        break;
    case XSAVE_KIND_XSAVE:
        __asm__ volatile("xsave64 (%0)" ::"r"(area), "a"(lo), "d"(hi) : "memory");
        break;
    case XSAVE_KIND_XSAVEOPT:
        __asm__ volatile("xsaveopt64 (%0)" ::"r"(area), "a"(lo), "d"(hi) : "memory");
        break;
    case XSAVE_KIND_XSAVES:
        __asm__ volatile("xsaves64 (%0)" ::"r"(area), "a"(lo), "d"(hi) : "memory");
        break;
    }
}

static inline __attribute__((always_inline)) long restore(const void *area)
{
    switch (kind) {
    case XSAVE_KIND_FXSAVE:
        return fxrstor_checked(area);
    case XSAVE_KIND_XSAVES:
        return xrstors_checked(area, xcr0);
    default:
        return xrstor_checked(area, xcr0);
    }
}

/* The clean state in the format the chosen instruction reads. */
static void fill_clean(void *area)
{
    memset(area, 0, area_size);
    struct fxsave_legacy *l = area;
    l->fcw = FCW_INIT;
    l->mxcsr = MXCSR_INIT;
    if (kind != XSAVE_KIND_FXSAVE) {
        /* XSTATE_BV 0: every component is set to its initial state (registers zero) on restore. */
        struct xsave_header *h = (struct xsave_header *)((uint8_t *)area + XSAVE_HEADER_OFFSET);
        if (kind == XSAVE_KIND_XSAVES)
            h->xcomp_bv = XCOMP_BV_COMPACTED | xcr0;
    }
}

/* What the CPU offers: its XSAVE components and instructions. */
struct xsave_caps {
    bool xsave, avx;
    uint64_t components;
    bool xsaveopt, xsaves;
};

static void read_caps(struct xsave_caps *c)
{
    uint32_t a, b, cx, d, max;
    cpuid(0, 0, &max, &b, &cx, &d);
    cpuid(1, 0, &a, &b, &cx, &d);
    *c = (struct xsave_caps){.xsave = cx & (1u << 26), .avx = cx & (1u << 28)};
    if (!c->xsave || max < 0xd)
        return;
    cpuid(0xd, 0, &a, &b, &cx, &d);
    c->components = ((uint64_t)d << 32) | a;
    cpuid(0xd, 1, &a, &b, &cx, &d);
    c->xsaveopt = a & (1u << 0);
    c->xsaves = a & (1u << 3);
}

/* The components the hypervisor manages: x87 and SSE always, AVX and AVX-512 when present. */
static uint64_t wanted_components(const struct xsave_caps *c)
{
    uint64_t want = XSTATE_X87 | XSTATE_SSE;
    if (c->avx && (c->components & XSTATE_YMM))
        want |= XSTATE_YMM;
    if ((want & XSTATE_YMM) && (c->components & XSTATE_AVX512) == XSTATE_AVX512)
        want |= XSTATE_AVX512;
    return want;
}

void xsave_enable_cpu(void)
{
    uint64_t cr4 = read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT;
    if (kind == XSAVE_KIND_FXSAVE) {
        write_cr4(cr4 & ~(uint64_t)CR4_OSXSAVE);
        return;
    }
    write_cr4(cr4 | CR4_OSXSAVE);
    xsetbv(0, xcr0);
    if (kind == XSAVE_KIND_XSAVES)
        wrmsr(MSR_XSS, 0); /* no supervisor state components */
}

/* The area size for the enabled components, from CPUID (XCR0 must already be set). */
static size_t cpuid_area_size(void)
{
    uint32_t a, b, c, d;
    if (kind == XSAVE_KIND_FXSAVE)
        return sizeof(struct fxsave_legacy);
    cpuid(0xd, kind == XSAVE_KIND_XSAVES ? 1 : 0, &a, &b, &c, &d);
    return b;
}

static void choose(const struct xsave_caps *caps, const char *forced)
{
    if (!caps->xsave || !(caps->components & XSTATE_SSE)) {
        kind = XSAVE_KIND_FXSAVE;
        return;
    }
    xcr0 = wanted_components(caps) & caps->components;
    kind = caps->xsaves ? XSAVE_KIND_XSAVES : caps->xsaveopt ? XSAVE_KIND_XSAVEOPT : XSAVE_KIND_XSAVE;
    if (forced && !strcmp(forced, "xsave"))
        kind = XSAVE_KIND_XSAVE;
    else if (forced && !strcmp(forced, "xsaveopt") && caps->xsaveopt)
        kind = XSAVE_KIND_XSAVEOPT;
    else if (forced && !strcmp(forced, "fxsave"))
        kind = XSAVE_KIND_FXSAVE;
    if (kind == XSAVE_KIND_FXSAVE)
        xcr0 = 0;
}

void xsave_init(void)
{
    struct xsave_caps caps;
    read_caps(&caps);
    char forced[16];
    bool have_forced = cmdline_get("xsave", forced, sizeof(forced));
    choose(&caps, have_forced ? forced : NULL);
    xsave_enable_cpu();
    area_size = cpuid_area_size();
    if (area_size > PAGE_SIZE && (xcr0 & XSTATE_AVX512)) {
        /* One page per vCPU: leave AVX-512 off rather than grow every vCPU past a page. */
        xcr0 &= ~XSTATE_AVX512;
        xsave_enable_cpu();
        area_size = cpuid_area_size();
    }
    if (area_size < sizeof(struct fxsave_legacy) || area_size > PAGE_SIZE)
        panic("extended state area of %lu bytes (xcr0 0x%lx): not supported", (uint64_t)area_size, xcr0);

    /* MXCSR_MASK: the bits a valid MXCSR may have (FXSAVE reports it; 0 means the default). */
    __asm__ volatile("fxsave64 (%0)" ::"r"(probe_area) : "memory");
    uint32_t mask = ((struct fxsave_legacy *)probe_area)->mxcsr_mask;
    mxcsr_mask = mask ? mask : MXCSR_MASK_DEFAULT;
    fill_clean(clean_area);
    selftest_stall_read();

    printk("xsave: %s, xcr0=0x%lx (x87 sse%s%s), area %lu bytes, mxcsr_mask=0x%x\n", kind_names[kind], xcr0,
           xcr0 & XSTATE_YMM ? " avx" : "", xcr0 & XSTATE_AVX512 ? " avx512" : "", (uint64_t)area_size,
           mxcsr_mask);
    if (have_forced && strcmp(forced, kind_names[kind]))
        printk("xsave: 'xsave=%s' is not available here; using %s\n", forced, kind_names[kind]);
#ifndef CONFIG_SELFTEST
    xsave_fast = (struct xsave_fast_path){kind == XSAVE_KIND_XSAVEOPT, ~mxcsr_mask, (uint32_t)xcr0, (uint32_t)(xcr0 >> 32)};
#endif
}

bool xsave_cpu_matches(void)
{
    struct xsave_caps caps;
    read_caps(&caps);
    if (kind == XSAVE_KIND_FXSAVE)
        return true;
    if (!caps.xsave || (caps.components & xcr0) != xcr0)
        return false;
    if ((kind == XSAVE_KIND_XSAVEOPT && !caps.xsaveopt) || (kind == XSAVE_KIND_XSAVES && !caps.xsaves))
        return false;
    return true; /* the area size is checked once XCR0 is set here: xsave_cpu_area_fits */
}

bool xsave_cpu_area_fits(void) { return cpuid_area_size() <= area_size; }

bool xsave_vcpu_init(struct vcpu *v)
{
    struct domain *d = v->domain;
    mfn_t m = frame_alloc_for(FRAME_HV, d);
    if (m == INVALID_MFN)
        return false;
    d->frames_held++;
    v->xsave_mfn = m;
    v->xsave = mfn_to_virt(m);
    fill_clean(v->xsave);
    return true;
}

void xsave_vcpu_free(struct vcpu *v)
{
    struct domain *d = v->domain;
    if (!v->xsave)
        return;
    /*
     * A CPU that still holds this vCPU's registers must not take them for a later vCPU's in the
     * same slot: sched_remove has had every other CPU drop them (an IPI each) before this runs,
     * and a domain that was never scheduled is nobody's owner.
     */
    BUG_ON(this_cpu()->fpu_owner == v);
    for (unsigned i = 0; i < MOAT_MAX_CPUS; i++)
        BUG_ON(percpus[i].fpu_owner == v);
    frame_free(v->xsave_mfn);
    d->frames_held--;
    v->xsave = NULL;
    v->xsave_mfn = INVALID_MFN;
}

#ifdef CONFIG_SELFTEST
/*
 * Test-only: `xsave_tamper=mxcsr:<domid>` or `header:<domid>` corrupts that domain's saved state
 * once, before it is restored for the second time, as a hypervisor bug or a stray write might:
 * a reserved MXCSR bit, or an XSTATE_BV bit for a component that is not enabled.
 */
static void selftest_tamper(struct domain *d, void *area)
{
    static int state; /* 0: command line not read yet, 1: armed, 2: done or off */
    static unsigned target, restores;
    static bool header;
    if (state == 0) {
        char arg[24];
        state = 2;
        if (cmdline_get("xsave_tamper", arg, sizeof(arg))) {
            header = !strncmp(arg, "header:", 7);
            const char *p = arg;
            while (*p && *p != ':')
                p++;
            if (*p == ':' && p[1] >= '0' && p[1] <= '9') {
                for (p++; *p >= '0' && *p <= '9'; p++)
                    target = target * 10 + (unsigned)(*p - '0');
                state = 1;
            }
        }
    }
    if (state != 1 || d->domid != target || ++restores < 2)
        return;
    state = 2;
    if (header && kind != XSAVE_KIND_FXSAVE) {
        unsigned bit = 3;
        while (xcr0 & (1ULL << bit))
            bit++;
        struct xsave_header *h = (struct xsave_header *)((uint8_t *)area + XSAVE_HEADER_OFFSET);
        h->xstate_bv |= 1ULL << bit;
    } else {
        ((struct fxsave_legacy *)area)->mxcsr |= ~mxcsr_mask;
    }
    printk("selftest: xsave_tamper: domain %u's saved %s corrupted\n", d->domid,
           header && kind != XSAVE_KIND_FXSAVE ? "XSTATE_BV" : "MXCSR");
}
#endif

void xsave_release(void)
{
    struct percpu *cpu = this_cpu();
    if (cpu->fpu_owner)
        save(cpu->fpu_owner->xsave);
    cpu->fpu_owner = NULL;
}

#ifdef CONFIG_SELFTEST
/*
 * Test-only `xsave_stall_ms=<n>`: the first CPU asked to give up a vCPU's extended state keeps it
 * n ms first, interrupts off, as a CPU the host does not run for that long would (under TCG on a
 * loaded host). With n past smp_call's old 5-second deadline this was a panic; now the vCPU's new
 * CPU waits for it. `selftest: xsave: N hand-offs` lines count the hand-offs (16, 32, 64, ...).
 */
static uint64_t stall_ms, handoffs;

static void selftest_stall_read(void)
{
    char arg[16];
    if (!cmdline_get("xsave_stall_ms", arg, sizeof(arg)))
        return;
    for (const char *p = arg; *p >= '0' && *p <= '9' && stall_ms < 60000; p++)
        stall_ms = stall_ms * 10 + (uint64_t)(*p - '0');
}

static void selftest_stall(const struct vcpu *v)
{
    uint64_t ms = __atomic_exchange_n(&stall_ms, 0, __ATOMIC_RELAXED);
    if (!ms)
        return;
    printk("selftest: xsave_stall: cpu %u keeps domain %u vcpu %u's extended state %lu ms before giving it up\n",
           this_cpu()->id, v->domain->domid, v->vcpu_id, ms);
    for (uint64_t until = rdtsc() + ms * tsc_khz(); rdtsc() < until;)
        cpu_relax();
}

static void selftest_count_handoff(void)
{
    handoffs++; /* under the hypervisor lock */
    if (handoffs >= 16 && !(handoffs & (handoffs - 1)))
        printk("selftest: xsave: %lu hand-offs from another CPU\n", handoffs);
}
#else
static void selftest_stall_read(void) {}
static void selftest_stall(const struct vcpu *v) { (void)v; }
static void selftest_count_handoff(void) {}
#endif

/* smp_call from the CPU a vCPU moves to: save its registers here, where they last ran. */
/* cppcheck-suppress constParameter ; an smp_call function: void (*)(void *) */
static void give_up(void *arg)
{
    struct percpu *cpu = this_cpu();
    if (cpu->fpu_owner == arg) {
        selftest_stall(arg);
        save(cpu->fpu_owner->xsave);
        cpu->fpu_owner = NULL;
    }
}

/*
 * v moved here from another CPU, whose registers may still hold its latest state: that CPU saves
 * it (an IPI) before it is loaded here. The wait has no deadline (smp_call): a CPU the host does
 * not run for a while only delays v, and running v meanwhile from its older saved area (or with
 * the registers of whoever ran here before) would be wrong, and a leak. False only if that CPU
 * is not online, which cannot happen to a CPU that ran a vCPU: v's state is then out of reach.
 */
static bool fetch_from_other_cpu(struct vcpu *v)
{
    unsigned from = v->fpu_cpu;
    if (!hv_lock_smp || from == this_cpu()->id || percpus[from].fpu_owner != v)
        return true;
    selftest_count_handoff();
    return smp_call(from, give_up, v);
}

/*
 * v's saved state was refused (rc -2: a reserved MXCSR bit; otherwise the CPU's fault): the area
 * is made clean for whatever comes next, the registers get the clean state (not the previous
 * owner's) and the caller kills v. Out of line: the switch below stays small without it.
 */
static __attribute__((__noinline__, __cold__)) bool refused(struct vcpu *v, long rc, const char **why)
{
    *why = rc == -2 ? "reserved MXCSR bits" : "the CPU refused the saved state";
    fill_clean(v->xsave);
    if (restore(clean_area))
        panic("the clean extended state was refused");
    return false;
}

static __attribute__((__noinline__, __cold__)) bool unreachable_owner(const char **why)
{
    *why = "its latest state is held by a CPU that does not answer";
    if (restore(clean_area)) /* not the previous owner's registers, whatever comes next */
        panic("the clean extended state was refused");
    return false;
}

bool xsave_switch_slow(struct vcpu *v, const char **why)
{
    struct percpu *cpu = this_cpu();
    if (cpu->fpu_owner)
        save(cpu->fpu_owner->xsave);
    cpu->fpu_owner = NULL;
    if (hv_lock_smp && !fetch_from_other_cpu(v))
        return unreachable_owner(why);
#ifdef CONFIG_SELFTEST
    selftest_tamper(v->domain, v->xsave);
#endif
    /*
     * Only the hypervisor writes the area, and XSAVE takes MXCSR from the live register, which
     * the CPU keeps valid; still, a restore must never fault the hypervisor. A reserved MXCSR bit
     * is refused here by name, anything else the CPU refuses faults into xrstor.S's fixup.
     */
    const struct fxsave_legacy *l = v->xsave;
    long rc = (l->mxcsr & ~mxcsr_mask) ? -2 : restore(v->xsave);
    if (rc)
        return refused(v, rc, why);
    cpu->fpu_owner = v;
    v->fpu_cpu = cpu->id;
    return true;
}
