/* SPDX-License-Identifier: MIT */
/*
 * A vCPU's extended CPU state: the x87 FPU, SSE and AVX registers (and AVX-512 where the CPU has
 * it), saved and restored with XSAVE (XSAVEOPT or XSAVES where CPUID offers them; FXSAVE on a CPU
 * without XSAVE). Switched eagerly: whenever a different vCPU is about to run on a CPU, the
 * previous owner's state is saved and the new one's restored, so a guest never finds another's
 * registers and there is no device-not-available trap (lazy switching leaks: LazyFP). The
 * hypervisor itself never touches these registers (it is built with -mgeneral-regs-only).
 */
#ifndef MOAT_XSAVE_H
#define MOAT_XSAVE_H

#include <moat/cpu.h>
#include <moat/domain.h>
#include <moat/hvlock.h>
#include <moat/types.h>

/* XCR0 bits (state components). */
#define XSTATE_X87 (1ULL << 0)
#define XSTATE_SSE (1ULL << 1)
#define XSTATE_YMM (1ULL << 2)
#define XSTATE_OPMASK (1ULL << 5)
#define XSTATE_ZMM_HI256 (1ULL << 6)
#define XSTATE_HI16_ZMM (1ULL << 7)
#define XSTATE_AVX512 (XSTATE_OPMASK | XSTATE_ZMM_HI256 | XSTATE_HI16_ZMM)

/*
 * Boot CPU, once the command line is known: chooses the components (XCR0) and the instruction,
 * switches them on, sizes the per-vCPU area from CPUID and prints the `xsave:` line.
 * `xsave=xsave|fxsave` on the command line picks a plainer instruction (for tests).
 */
void xsave_init(void);
/* This CPU: CR4.OSFXSR/OSXMMEXCPT/OSXSAVE and the boot CPU's XCR0. */
void xsave_enable_cpu(void);
/* An AP: does it offer everything the boot CPU uses (components, instruction, area size)? */
bool xsave_cpu_matches(void);
/* An AP, once xsave_enable_cpu ran: do its registers fit the boot CPU's area size? */
bool xsave_cpu_area_fits(void);

/* A new vCPU's area, in the clean state (FCW 0x37f, MXCSR 0x1f80, every register zero). */
bool xsave_vcpu_init(struct vcpu *v);
/* Gives the area back; no CPU keeps the vCPU as the owner of its registers. */
void xsave_vcpu_free(struct vcpu *v);
/*
 * Loads d's extended state into this CPU's registers, saving the previous owner's first (nothing
 * happens if d's is already there). False if d's saved state was refused (a reserved MXCSR bit,
 * a malformed header): the registers then hold the clean state, *why says what was wrong, and the
 * caller kills d.
 */
bool xsave_switch_slow(struct vcpu *v, const char **why);
/* Saves the owner's extended state and leaves the registers ownerless (the partitioned
 * scheduler, between partitions: the next entry then always takes the same path). */
void xsave_release(void);
/*
 * The switch's common case, inlined into the scheduler's switch (set by xsave_init, turned off
 * by the first AP to come online): XSAVEOPT from one vCPU to another on a CPU whose vCPUs never
 * move (one CPU runs guests: hv_lock_smp is false), outside the self-test build (which tampers
 * with areas in xsave_switch_slow). Any other case, and anything the fast path finds wrong,
 * takes xsave_switch_slow, which decides and says why: a refused MXCSR or a restore the CPU
 * refuses is tried there again (the owner's state is saved by then, so only the refusal is
 * repeated) and v is refused by name.
 */
struct xsave_fast_path {
    bool on;
    uint32_t mxcsr_reserved;   /* the bits a valid MXCSR may not have (~MXCSR_MASK) */
    uint32_t xcr0_lo, xcr0_hi; /* XCR0 as the instructions take it, in eax and edx */
};
extern struct xsave_fast_path xsave_fast;
/* XRSTOR of area with mask: 0, or -1 if the CPU refused it (xrstor.S's xrstor_call, with its
 * fixup, which changes rax only). */
static inline long xrstor_checked(const void *area, uint64_t mask)
{
    long ret;
    __asm__ volatile("call xrstor_call"
                     : "=a"(ret)
                     : "D"(area), "a"((uint32_t)mask), "d"((uint32_t)(mask >> 32))
                     : "memory");
    return ret;
}

#define XSAVE_MXCSR_OFFSET 24 /* in the legacy region (xsave.c checks it) */

/*
 * Is v's saved MXCSR one the fast path may restore? A reserved bit is refused before the save,
 * by the slow path, by name: the CPU may not fault on it (QEMU's ldmxcsr and xrstor take one), and
 * prev is then still the owner, which the slow path saves.
 */
static inline bool xsave_mxcsr_ok(const struct vcpu *v)
{
    return !(*(const uint32_t *)((const char *)v->xsave + XSAVE_MXCSR_OFFSET) & xsave_fast.mxcsr_reserved);
}

/*
 * The fast path's save and restore, with prev this CPU's owner (not v) and v's MXCSR checked:
 * XSAVEOPT of prev, then XRSTOR of v, inline, its fault fixup (FIXUP_ENTRY) a jump to `refused`,
 * so the way without a fault tests nothing and calls nothing. False if the CPU refused v's area:
 * the registers then have no owner (prev's state is saved), and xsave_switch_slow decides.
 */
static inline __attribute__((always_inline)) bool xsave_switch_from(struct percpu *cpu, struct vcpu *prev,
                                                                    struct vcpu *v)
{
    uint32_t lo = xsave_fast.xcr0_lo, hi = xsave_fast.xcr0_hi; /* edx:eax, for both instructions */
    __asm__ volatile("xsaveopt64 (%0)" ::"r"(prev->xsave), "a"(lo), "d"(hi) : "memory");
    __asm__ goto("1: xrstor64 (%0)\n\t" FIXUP_ENTRY("1b", "%l[refused]")::"r"(v->xsave), "a"(lo), "d"(hi)
                 : "memory"
                 : refused);
    /* v->fpu_cpu is not kept: only fetch_from_other_cpu reads it, with several CPUs, where this
     * fast path is off. */
    cpu->fpu_owner = v;
    return true;
/* cppcheck-suppress unusedLabel ; the asm goto's target (its fixup jumps here), which cppcheck does not see */
refused:
    cpu->fpu_owner = NULL;
    return false;
}

static inline bool xsave_switch(struct percpu *cpu, struct vcpu *v, const char **why)
{
    struct vcpu *prev = cpu->fpu_owner;
    if (prev == v)
        return true; /* the same vCPU again: nothing */
    if (!xsave_fast.on || !prev || !xsave_mxcsr_ok(v)) /* (off once a second CPU is online: smp.c) */
        return xsave_switch_slow(v, why);
    return xsave_switch_from(cpu, prev, v) || xsave_switch_slow(v, why);
}

/* The scheduler's plain switch may use xsave_switch_from from prev to v, the fast path being on:
 * prev's state is the one in this CPU's registers, and v's MXCSR is valid. */
static inline bool xsave_switch_plain(const struct percpu *cpu, const struct vcpu *prev, const struct vcpu *v)
{
    return cpu->fpu_owner == prev && xsave_mxcsr_ok(v);
}

#endif
