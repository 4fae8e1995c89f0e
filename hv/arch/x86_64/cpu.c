// SPDX-License-Identifier: MIT
// CPU features: find out what the boot CPU offers and switch on the protections we rely on (NX,
// SMEP, SMAP, UMIP, global pages) when it has them; every AP gets exactly the same CR0, CR4 and
// EFER (and XCR0, xsave.c), or is not brought up at all.
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/hypercall.h>
#include <moat/xsave.h>
#include <moat/x86.h>
#include <lib/sha256.h>
#include <public/hv.h>

struct cpu_features cpu_features;
/*
 * In .bss, not initialised data: the loaded image must stay byte for byte the file it came from
 * until the measured launch has hashed it. The boot CPU's entry is filled in by hv_main's first
 * call; until then this_cpu_careful() falls back to it.
 */
struct percpu percpus[MOAT_MAX_CPUS];

void percpu_init_boot_cpu(void)
{
    struct percpu *cpu = &percpus[0];
    cpu->self = cpu;
    cpu->kstack_top = (uint64_t)kstack_boot_top;
    cpu->ist_top[0] = (uint64_t)kstack_df_top;
    cpu->ist_top[1] = (uint64_t)kstack_nmi_top;
    cpu->ist_top[2] = (uint64_t)kstack_mc_top;
    /* In the hypervisor GS points at the per-CPU block; swapgs trades it for the guest's (0). */
    wrmsr(MSR_GS_BASE, (uint64_t)cpu);
    wrmsr(MSR_KERNEL_GS_BASE, 0);
}

static struct percpu *percpu_at(uint64_t va)
{
    uint64_t base = (uint64_t)percpus;
    if (va < base || va >= base + sizeof(percpus) || (va - base) % sizeof(percpus[0]))
        return NULL;
    struct percpu *p = (struct percpu *)va;
    return p->self == p ? p : NULL;
}

struct percpu *this_cpu_careful(void)
{
    /* An NMI or #MC can arrive between a swapgs and the sysret/iret: then GS is the guest's. */
    struct percpu *p = percpu_at(rdmsr(MSR_GS_BASE));
    if (!p)
        p = percpu_at(rdmsr(MSR_KERNEL_GS_BASE));
    return p ? p : &percpus[0];
}

static void detect(struct cpu_features *f)
{
    uint32_t a, b, c, d, max;
    cpuid(0, 0, &max, &b, &c, &d);
    cpuid(1, 0, &a, &b, &c, &d);
    *f = (struct cpu_features){.pge = d & (1u << 13)};
    if (max >= 7) {
        cpuid(7, 0, &a, &b, &c, &d);
        f->smep = b & (1u << 7);
        f->smap = b & (1u << 20);
        f->umip = c & (1u << 2);
    }
    cpuid(0x80000001, 0, &a, &b, &c, &d);
    f->nx = d & (1u << 20);
    f->syscall = d & (1u << 11);
}

/* Applies cpu_features (the boot CPU's) to this CPU's control registers. */
static void enable(void)
{
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
    /* Write protection in ring 0; the FPU native (#MF, not IRQ 13), present (no EM), never lazy (no TS). */
    write_cr0((read_cr0() | CR0_WP | CR0_NE | CR0_MP) & ~(uint64_t)(CR0_EM | CR0_TS));
}

void cpu_detect_and_enable(void)
{
    detect(&cpu_features);
    enable();
}

bool cpu_enable_on_ap(void)
{
    struct cpu_features f;
    detect(&f);
    /* Every protection the boot CPU switched on must exist here too (a CPU may have more). */
    if ((cpu_features.nx && !f.nx) || (cpu_features.smep && !f.smep) || (cpu_features.smap && !f.smap) ||
        (cpu_features.umip && !f.umip) || (cpu_features.pge && !f.pge) || (cpu_features.syscall && !f.syscall) ||
        !xsave_cpu_matches() || !sha256_arch_cpu_ok())
        return false;
    enable();
    return true;
}

/* The entry code reads these through %gs; the offsets are fixed in cpu.h. */
_Static_assert(__builtin_offsetof(struct percpu, user_rsp) == PCPU_USER_RSP, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, kstack_top) == PCPU_KSTACK_TOP, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, tss) + TSS_RSP0 == PCPU_TSS_RSP0, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, self) == PCPU_SELF, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, current) == PCPU_CURRENT, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, need_resched) == PCPU_NEED_RESCHED, "percpu layout");
/* The plain switch's one compare (sched.c): need_resched the low half of resched_word, switch_general the high. */
_Static_assert(__builtin_offsetof(struct percpu, resched_word) == PCPU_NEED_RESCHED &&
                   __builtin_offsetof(struct percpu, switch_general) == PCPU_NEED_RESCHED + 4 &&
                   sizeof(((struct percpu *)0)->need_resched) == 4,
               "percpu layout");
_Static_assert(HYPERCALL_SLOTS == MOAT_NR_HYPERCALLS, "the fast path's table bound");
/* The fast path reads a vcpu_info's pending byte and the mask byte after it. */
_Static_assert(__builtin_offsetof(struct vcpu_info, evtchn_upcall_pending) == 0, "vcpu_info layout");
_Static_assert(__builtin_offsetof(struct vcpu_info, evtchn_upcall_mask) == 1, "vcpu_info layout");
_Static_assert(sizeof(struct cpu_regs) == REGS_SIZE, "cpu_regs layout");
/* The fast path counts a hypercall through the frame: vcpu's regs first, its hypercalls pointer at VCPU_HYPERCALLS. */
_Static_assert(__builtin_offsetof(struct vcpu, regs) == 0, "vcpu layout");
_Static_assert(__builtin_offsetof(struct vcpu, hypercalls) == VCPU_HYPERCALLS, "vcpu layout");
_Static_assert(__builtin_offsetof(struct vcpu, vcpu_info) == VCPU_VCPU_INFO, "vcpu layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, vector) == REGS_VECTOR, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, rax) == REGS_RAX, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, rbx) == REGS_RBX, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, rip) == REGS_RIP, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, cs) == REGS_CS, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, rsp) == REGS_RSP, "cpu_regs layout");

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_FMASK 0xc0000084

/* Read by copy_user in syscall.S: stac/clac are only legal when the CPU has SMAP. */
uint8_t smap_enabled;

extern char syscall_entry[], syscall_entry_fast[], syscall_compat[], copy_user_fault_ip[], copy_user_fault_ip_q[], copy_user_fixup[];
extern char upcall_frame_fault_ip_q[], upcall_frame_fault_ip_rip[], upcall_frame_fault_ip_rflags[],
    upcall_frame_fault_ip_rsp[], upcall_frame_fixup[];
extern char xrstor_fault_ip[], xrstor_fixup[], fxrstor_fault_ip[], fxrstor_fixup[], xrstors_fault_ip[],
    xrstors_fixup[];

void syscall_init(void)
{
    smap_enabled = cpu_features.smap;
    /* sysret: CS = base + 16, SS = base + 8 (cpu.h); syscall: CS = SEL_KCODE, SS = SEL_KDATA. */
    wrmsr(MSR_STAR, ((uint64_t)SEL_UCODE32 << 48) | ((uint64_t)SEL_KCODE << 32));
    arch_hypercall_entry_select();
    /*
     * syscall from 32-bit code enters at MSR_CSTAR on AMD CPUs and QEMU's TCG (Intel's raise #UD).
     * The GDT has no 32-bit user code segment, so a guest cannot be in compatibility mode; should
     * one ever be, it gets -ENOSYS instead of ring 0 at address 0 on its own stack.
     */
    wrmsr(MSR_CSTAR, (uint64_t)syscall_compat);
    /* Entered with interrupts off, no single-step, DF clear, AC clear (SMAP enforced), NT clear. */
    wrmsr(MSR_FMASK, RFLAGS_IF | (1u << 8) | (1u << 10) | (1u << 18) | (1u << 14));
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

/*
 * The syscall entry of this CPU, chosen instead of tested on every syscall: the fast path's when
 * hypercall_fast (one CPU, no hypercall log), else the C path's (syscall.S). Called by each CPU as
 * it comes up and again by sched_start's hypercall_fast_init.
 */
void arch_hypercall_entry_select(void)
{
    wrmsr(MSR_LSTAR, (uint64_t)(hypercall_fast ? syscall_entry_fast : syscall_entry));
}

/* The instructions allowed to fault in the hypervisor, and where each resumes to report it. */
static const struct {
    const char *ip, *fixup;
} fixups[] = {
    {copy_user_fault_ip, copy_user_fixup}, /* a guest address: -EFAULT */
    {copy_user_fault_ip_q, copy_user_fixup},
    {upcall_frame_fault_ip_q, upcall_frame_fixup}, /* the upcall frame onto a guest stack (upcall.c) */
    {upcall_frame_fault_ip_rip, upcall_frame_fixup},
    {upcall_frame_fault_ip_rflags, upcall_frame_fixup},
    {upcall_frame_fault_ip_rsp, upcall_frame_fixup},
    {xrstor_fault_ip, xrstor_fixup},       /* a vCPU's extended state refused by the CPU (xsave.c) */
    {fxrstor_fault_ip, fxrstor_fixup},
    {xrstors_fault_ip, xrstors_fixup},
};

/* The pairs inline assembly registers with FIXUP_ENTRY (linker.ld collects them). */
struct fixup_pair {
    uint64_t ip, fixup;
};
extern const struct fixup_pair _fixups_start[], _fixups_end[];

uint64_t fault_fixup(uint64_t rip)
{
    for (unsigned i = 0; i < ARRAY_SIZE(fixups); i++)
        if (rip == (uint64_t)fixups[i].ip)
            return (uint64_t)fixups[i].fixup;
    /* cppcheck-suppress comparePointers ; the two ends of one section, which linker.ld defines */
    for (const struct fixup_pair *f = _fixups_start; f < _fixups_end; f++)
        if (rip == f->ip)
            return f->fixup;
    return 0;
}
