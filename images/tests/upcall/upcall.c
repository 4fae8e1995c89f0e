// SPDX-License-Identifier: MIT
// The upcall path of the runtime: upcall_entry is entered with the interrupted context on the
// stack, calls upcall_handler, and iret resumes exactly where the guest was, with its registers.
// The timer (VIRQ_TIMER) provides the event while the guest spins with known register values.
#include <moat/test.h>
#include <moat/upcall.h>

static volatile unsigned long upcalls;
static volatile uint64_t frame_rip, frame_rsp;
static volatile uint8_t handler_mask = 0xff; // evtchn_upcall_mask as the handler found it

// Overrides the library's weak default.
void upcall_handler(struct upcall_frame *frame)
{
    upcalls++;
    handler_mask = shared_info->vcpu_info[0].evtchn_upcall_mask;
    frame_rip = frame->rip;
    frame_rsp = frame->rsp;
    timer_ack();
    // Every register a call may change, changed: the way back must take each from the frame
    // (a return that forgot one would otherwise go unnoticed whenever the handler left it alone).
    __asm__ volatile("mov $-1, %%rax; mov %%rax, %%rcx; mov %%rax, %%rdx; mov %%rax, %%rsi; mov %%rax, %%rdi\n\t"
                     "mov %%rax, %%r8; mov %%rax, %%r9; mov %%rax, %%r10; mov %%rax, %%r11"
                     : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "cc");
}

// Spins until an upcall has happened, with every general register but rcx (the spin's count)
// holding a pattern, the carry flag set (dec leaves it alone) and the pattern in the top and
// bottom words of the red zone (the 128 bytes below rsp, which no upcall may touch): after the
// upcall's return all must hold still. The library returns without the hypervisor when no event
// waits (upcall_entry.S), so this is what checks that return: every register, the flags and the
// stack below rsp. out[i] must be pattern + i: 0-4 rbx, r12-r15; 5 the carry (pattern + 4 + CF);
// 6, 7 the red-zone words; 8 rbp, 9 rax, 10 rdx, 11 rsi, 12 rdi, 13-16 r8-r11.
#define SPIN_VALUES 17
static long spin_with_pattern(uint64_t pattern, uint64_t limit_ns)
{
    uint64_t out[SPIN_VALUES];
    uint64_t deadline = now_ns() + limit_ns;
    while (!upcalls && now_ns() < deadline) {
        __asm__ volatile(
            "push %%rbp; push %%rbx; push %%r12; push %%r13; push %%r14; push %%r15\n\t"
            "push %0\n\t" // out, at 0(%%rsp) while every register holds the pattern
            "mov %1, %%rbx; lea 1(%%rbx), %%r12; lea 2(%%rbx), %%r13; lea 3(%%rbx), %%r14\n\t"
            "lea 4(%%rbx), %%r15; lea 8(%%rbx), %%rbp; lea 9(%%rbx), %%rax; lea 10(%%rbx), %%rdx\n\t"
            "lea 11(%%rbx), %%rsi; lea 12(%%rbx), %%rdi; lea 13(%%rbx), %%r8; lea 14(%%rbx), %%r9\n\t"
            "lea 15(%%rbx), %%r10; lea 16(%%rbx), %%r11\n\t"
            "mov %%r14, -8(%%rsp); mov %%r15, -128(%%rsp)\n\t"
            "mov $200000, %%ecx\n\t"
            "stc\n\t"
            "1: dec %%ecx; jnz 1b\n\t"            // the window in which the upcall lands
            "setc %%cl\n\t"
            "xchg %%rax, 0(%%rsp)\n\t"           // rax: out; rax's value kept on the stack
            "mov %%rbx, 0(%%rax); mov %%r12, 8(%%rax); mov %%r13, 16(%%rax); mov %%r14, 24(%%rax)\n\t"
            "mov %%r15, 32(%%rax)\n\t"
            "movzbq %%cl, %%rcx; lea 4(%%rcx, %%rbx), %%rcx; mov %%rcx, 40(%%rax)\n\t"
            "mov -8(%%rsp), %%rcx; lea 3(%%rcx), %%rcx; mov %%rcx, 48(%%rax)\n\t"
            "mov -128(%%rsp), %%rcx; lea 3(%%rcx), %%rcx; mov %%rcx, 56(%%rax)\n\t"
            "mov %%rbp, 64(%%rax); pop %%rcx; mov %%rcx, 72(%%rax); mov %%rdx, 80(%%rax)\n\t"
            "mov %%rsi, 88(%%rax); mov %%rdi, 96(%%rax); mov %%r8, 104(%%rax); mov %%r9, 112(%%rax)\n\t"
            "mov %%r10, 120(%%rax); mov %%r11, 128(%%rax)\n\t"
            "pop %%r15; pop %%r14; pop %%r13; pop %%r12; pop %%rbx; pop %%rbp\n\t"
            : : "r"(out), "r"(pattern)
            : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc"); // not rbx, rbp, r12-r15: pushed
        for (unsigned i = 0; i < SPIN_VALUES; i++)
            if (out[i] != pattern + i)
                return -(long)i - 1;
    }
    return upcalls ? 0 : -100;
}

void test_main(void)
{
    xtf_assert(timer_bind() > 0, "binding VIRQ_TIMER failed");
    xtf_check_eq(upcall_install(), 0);
    shared_info->vcpu_info[0].evtchn_upcall_mask = 0;  // deliver events as upcalls

    xtf_check_eq(HYPERVISOR_set_timer_op(now_ns() + 5 * NS_PER_MS), 0);
    long rc = spin_with_pattern(0x0123456789abcd00ULL, 5 * NS_PER_SEC);
    xtf_check(rc != -100, "no upcall within 5 s of the timer");
    xtf_check(rc >= 0 || rc == -100, "value %ld changed across the upcall (0-4: rbx, r12-r15; 5: CF; 6, 7: red zone; 8: rbp; 9-12: rax, rdx, rsi, rdi; 13-16: r8-r11)", -rc - 1);
    // Events masked for the handler, with the byte's one masked value (public/hv.h: upcall_mask = 1).
    xtf_check(handler_mask == 1, "evtchn_upcall_mask %u in the handler, not 1", (unsigned)handler_mask);
    printf("upcalls %lu, interrupted rip %#lx rsp %#lx\n", upcalls, (unsigned long)frame_rip,
           (unsigned long)frame_rsp);
    extern char __image_start[];
    xtf_check(frame_rip >= (uint64_t)__image_start && frame_rip < start_info->heap_start,
              "interrupted rip %#lx is not in the image", (unsigned long)frame_rip);
    xtf_check(frame_rsp < start_info->stack_top && frame_rsp > start_info->stack_top - 4 * 4096,
              "interrupted rsp %#lx is not on the stack", (unsigned long)frame_rsp);

    // Unregistered: a later timer must not enter the handler.
    xtf_check_eq(HYPERVISOR_set_callbacks(0, 0), 0);
    unsigned long before = upcalls;
    sleep_ns(10 * NS_PER_MS);
    xtf_check(upcalls == before, "an upcall after set_callbacks(0)");
    xtf_success(NULL);
}
