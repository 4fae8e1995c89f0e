// SPDX-License-Identifier: MIT
// The upcall path of the runtime: upcall_entry is entered with the interrupted context on the
// stack, calls upcall_handler, and iret resumes exactly where the guest was, with its registers.
// The timer (VIRQ_TIMER) provides the event while the guest spins with known register values.
#include <moat/test.h>
#include <moat/upcall.h>

static volatile unsigned long upcalls;
static volatile uint64_t frame_rip, frame_rsp;

// Overrides the library's weak default.
void upcall_handler(struct upcall_frame *frame)
{
    upcalls++;
    frame_rip = frame->rip;
    frame_rsp = frame->rsp;
    timer_ack();
}

// Spins until an upcall has happened, with r12-r15 and rbx holding a pattern, the carry flag set
// (dec leaves it alone) and the pattern in the top and bottom words of the red zone (the 128
// bytes below rsp, which no upcall may touch): after the upcall's return all must hold still.
// The library returns without the hypervisor when no event waits (upcall_entry.S), so this is
// what checks that return: every register, the flags and the stack below rsp.
static long spin_with_pattern(uint64_t pattern, uint64_t limit_ns)
{
    uint64_t out[8];
    uint64_t deadline = now_ns() + limit_ns;
    while (!upcalls && now_ns() < deadline) {
        __asm__ volatile(
            "push %%rbx; push %%r12; push %%r13; push %%r14; push %%r15\n\t"
            "mov %1, %%rbx; lea 1(%%rbx), %%r12; lea 2(%%rbx), %%r13; lea 3(%%rbx), %%r14\n\t"
            "lea 4(%%rbx), %%r15\n\t"
            "mov %%r14, -8(%%rsp); mov %%r15, -128(%%rsp)\n\t"
            "mov $200000, %%ecx\n\t"
            "stc\n\t"
            "1: dec %%ecx; jnz 1b\n\t"            // the window in which the upcall lands
            "mov %%rbx, 0(%0); mov %%r12, 8(%0); mov %%r13, 16(%0); mov %%r14, 24(%0)\n\t"
            "mov %%r15, 32(%0)\n\t"
            "setc %%cl; movzbq %%cl, %%rcx; lea 4(%%rcx, %%rbx), %%rcx; mov %%rcx, 40(%0)\n\t"
            "mov -8(%%rsp), %%rcx; lea 3(%%rcx), %%rcx; mov %%rcx, 48(%0)\n\t"
            "mov -128(%%rsp), %%rcx; lea 3(%%rcx), %%rcx; mov %%rcx, 56(%0)\n\t"
            "pop %%r15; pop %%r14; pop %%r13; pop %%r12; pop %%rbx\n\t"
            : : "D"(out), "S"(pattern) : "rcx", "memory");  // not in rbx/r12-r15, which it clobbers
        // out[5] is pattern + 4 + CF, out[6] and out[7] the red-zone words (r14, r15) + 3
        for (unsigned i = 0; i < 8; i++)
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
    xtf_check(rc >= 0 || rc == -100, "register %ld changed across the upcall (0-4: rbx, r12-r15; 5: CF; 6, 7: red zone)", -rc - 1);
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
