// SPDX-License-Identifier: MIT
// HYPERVISOR_iret's checks (tests/domains/test_iret.py): whatever frame a guest hands it, the
// guest stays in ring 3 at a user address with no I/O privilege. A frame whose rip or rsp is at
// or above GUEST_VA_LIMIT is refused with -EINVAL (the guest goes on); a frame asking for IOPL 3,
// NT, AC or TF resumes without them, while the arithmetic flags it sets come back as set; every
// general register comes back as the frame has it.
#include <stddef.h>

#include <moat/test.h>

long iret_probe(struct upcall_frame *frame);
long iret_regs_probe(struct upcall_frame *frame, uint64_t out[15]);
extern uint64_t iret_seen_rflags;

#define RFLAGS_CF (1ul << 0)
#define RFLAGS_ZF (1ul << 6)
#define RFLAGS_TF (1ul << 8)
#define RFLAGS_IF (1ul << 9)
#define RFLAGS_DF (1ul << 10)
#define RFLAGS_OF (1ul << 11)
#define RFLAGS_IOPL (3ul << 12)
#define RFLAGS_NT (1ul << 14)
#define RFLAGS_AC (1ul << 18)

// Where a refused frame would have gone: reaching it means the hypervisor resumed a bad frame.
static void __attribute__((noreturn)) escaped(void)
{
    xtf_failure("Fail: iret resumed a frame it should have refused\n");
    xtf_exit();
}

static uint64_t here_rsp(void)
{
    uint64_t rsp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
    return rsp;
}

static long iret_with(uint64_t rip, uint64_t rsp)
{
    struct upcall_frame f;
    memset(&f, 0, sizeof(f));
    f.rip = rip;
    f.rsp = rsp;
    f.rflags = RFLAGS_IF;
    return HYPERVISOR_iret(&f);
}

static void refused_rip(void)
{
    uint64_t sp = here_rsp() - 4096; /* a valid stack below ours, were the frame resumed */
    xtf_check_eq(iret_with(GUEST_VA_LIMIT, sp), -XEN_EINVAL);          /* the first non-user address */
    xtf_check_eq(iret_with(GUEST_VA_LIMIT + 0x1000, sp), -XEN_EINVAL);
    xtf_check_eq(iret_with(0xffff800000000000ull, sp), -XEN_EINVAL);  /* canonical, but the hypervisor's */
    xtf_check_eq(iret_with(0xffffffff80100000ull, sp), -XEN_EINVAL);
    xtf_check_eq(iret_with(~0ull, sp), -XEN_EINVAL);
    printf("iret: rip at or above GUEST_VA_LIMIT refused\n");
}

static void refused_rsp(void)
{
    uint64_t rip = (uint64_t)(uintptr_t)escaped;
    xtf_check_eq(iret_with(rip, GUEST_VA_LIMIT), -XEN_EINVAL);
    xtf_check_eq(iret_with(rip, GUEST_VA_LIMIT + 8), -XEN_EINVAL);
    xtf_check_eq(iret_with(rip, 0xffff800000001000ull), -XEN_EINVAL);
    xtf_check_eq(iret_with(rip, ~0ull & ~15ull), -XEN_EINVAL);
    printf("iret: rsp at or above GUEST_VA_LIMIT refused\n");
}

static void bad_frame_pointer(void)
{
    xtf_check_eq(HYPERVISOR_iret(NULL), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_iret((struct upcall_frame *)(uintptr_t)(GUEST_VA_LIMIT - 8)), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_iret((struct upcall_frame *)(uintptr_t)0xffffffff80100000ull), -XEN_EFAULT);
    printf("iret: unreadable frames refused\n");
}

static void flags_masked(void)
{
    struct upcall_frame f;
    memset(&f, 0, sizeof(f));
    f.rflags = RFLAGS_IOPL | RFLAGS_NT | RFLAGS_AC | RFLAGS_TF | RFLAGS_CF | RFLAGS_ZF | RFLAGS_OF | RFLAGS_DF;
    iret_seen_rflags = 0;
    long rc = iret_probe(&f);
    if (!xtf_check(rc == 0, "a valid frame was refused: %ld", rc))
        return;
    uint64_t fl = iret_seen_rflags;
    printf("iret: asked for rflags %#lx, resumed with %#lx\n", (unsigned long)f.rflags, (unsigned long)fl);
    xtf_check((fl & RFLAGS_IOPL) == 0, "IOPL %lu after iret", (unsigned long)((fl & RFLAGS_IOPL) >> 12));
    xtf_check(!(fl & RFLAGS_NT), "NT set after iret");
    xtf_check(!(fl & RFLAGS_AC), "AC set after iret");
    xtf_check(!(fl & RFLAGS_TF), "TF set after iret");
    xtf_check(fl & RFLAGS_IF, "IF clear after iret");
    uint64_t arith = RFLAGS_CF | RFLAGS_ZF | RFLAGS_OF | RFLAGS_DF;
    xtf_check((fl & arith) == arith, "arithmetic flags %#lx lost", (unsigned long)(~fl & arith));

    /* IOPL 3 would also make these legal in ring 3; with IOPL 0 the frame asking for it gains nothing. */
    f.rflags = RFLAGS_IOPL;
    xtf_check_eq(iret_probe(&f), 0);
    xtf_check((iret_seen_rflags & RFLAGS_IOPL) == 0, "IOPL %lu after an iret asking for 3 alone",
              (unsigned long)((iret_seen_rflags & RFLAGS_IOPL) >> 12));
    printf("iret: IOPL, NT, AC and TF never reach the guest\n");

    /* Nothing is added either: a frame with every flag clear resumes with IF (and bit 1) only. */
    f.rflags = 0;
    xtf_check_eq(iret_probe(&f), 0);
    xtf_check((iret_seen_rflags & ~RFLAGS_IF & ~2ul) == 0, "flags %#lx after an iret asking for none",
              (unsigned long)iret_seen_rflags);
    printf("iret: a clear rflags resumes clear\n");
}

/*
 * The direct sysret (a hypercall with nothing pending) takes IF from the flags the CPU saved at
 * the syscall rather than setting it: that is right only because ring 3 cannot clear IF (IOPL 0:
 * popfq leaves it alone). Both are checked here, with the flags the same mask takes away (NT, AC)
 * and the arithmetic ones it keeps (CF, DF). Hypercall 1 is unassigned: -ENOSYS, the direct way.
 */
static void sysret_flags(void)
{
    uint64_t asked = RFLAGS_NT | RFLAGS_AC | RFLAGS_CF | RFLAGS_DF | 2ul; /* IF clear, IOPL 0 */
    uint64_t after_popf, after_syscall;
    long rc;
    __asm__ volatile("pushfq\n\t"
                     "pushq %[asked]\n\t"
                     "popfq\n\t"
                     "pushfq\n\t"
                     "popq %[popf]\n\t"
                     "movl $1, %%eax\n\t"
                     "syscall\n\t"
                     "pushfq\n\t"
                     "popq %[sys]\n\t"
                     "popfq"
                     : [popf] "=&r"(after_popf), [sys] "=&r"(after_syscall), "=&a"(rc)
                     : [asked] "r"(asked)
                     : "rcx", "r11", "memory", "cc");
    xtf_check_eq(rc, -XEN_ENOSYS);
    xtf_check(after_popf & RFLAGS_IF, "IF clear after popfq in ring 3: %#lx", (unsigned long)after_popf);
    xtf_check(after_syscall & RFLAGS_IF, "IF clear after a hypercall: %#lx", (unsigned long)after_syscall);
    xtf_check(!(after_syscall & (RFLAGS_NT | RFLAGS_AC | RFLAGS_IOPL)), "NT, AC or IOPL after a hypercall: %#lx",
              (unsigned long)after_syscall);
    xtf_check((after_syscall & (RFLAGS_CF | RFLAGS_DF)) == (RFLAGS_CF | RFLAGS_DF),
              "CF or DF lost by a hypercall: %#lx", (unsigned long)after_syscall);
    printf("sysret: IF kept, NT and AC taken away, CF and DF kept\n");
}

/* An iret unmasks events (the upcall frame's contract): a guest that masked them gets them back. */
static void unmasks_events(void)
{
    struct upcall_frame f;
    memset(&f, 0, sizeof(f));
    shared_info->vcpu_info[0].evtchn_upcall_mask = 1;
    xtf_check_eq(iret_probe(&f), 0);
    xtf_check_eq(shared_info->vcpu_info[0].evtchn_upcall_mask, 0);
    printf("iret: events unmasked\n");
}

/*
 * The iret resumes with every general register the frame holds, rcx and r11 included (an iret
 * returns them exactly), and nothing else: no register keeps a value of the hypercall that asked
 * for it (the syscall fast path keeps the guest's rbx outside the frame until its way out, which
 * must not put that one back over the frame's) and none a value of the hypervisor's.
 */
static void resumes_every_register(void)
{
    static const char *const names[15] = { "r15", "r14", "r13", "r12", "r11", "r10", "r9", "r8",
                                           "rbp", "rdi", "rsi", "rdx", "rcx", "rbx", "rax" };
    struct upcall_frame f;
    memset(&f, 0, sizeof(f));
    uint64_t *words = (uint64_t *)&f; /* its first 15 words: r15 to rax */
    for (unsigned i = 0; i < 15; i++)
        words[i] = 0x5eed000000000000ull + 0x0101010101ull * (i + 1);
    f.rflags = RFLAGS_IF;
    uint64_t out[15];
    memset(out, 0, sizeof(out));
    xtf_check_eq(iret_regs_probe(&f, out), 0);
    bool all = true;
    for (unsigned i = 0; i < 15; i++)
        if (out[i] != words[i]) {
            xtf_failure("Fail: %s after the iret: %#lx, the frame had %#lx\n", names[i], (unsigned long)out[i],
                        (unsigned long)words[i]);
            all = false;
        }
    if (all)
        printf("iret: every register as the frame has it\n");
}

void test_main(void)
{
    resumes_every_register();
    refused_rip();
    refused_rsp();
    bad_frame_pointer();
    flags_masked();
    unmasks_events();
    sysret_flags();
    printf("iret: the domain went on after every refusal\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
