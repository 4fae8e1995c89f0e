// SPDX-License-Identifier: MIT
// Where an event upcall's frame goes (tests/domains/test_upcall_stack.py): public/hv.h says 16-byte
// aligned, below a 128-byte red zone. The frame goes at the highest such address, whatever the
// interrupted rsp's alignment: (rsp - 128 - sizeof(struct upcall_frame)) & ~15 (arch_upcall_push,
// hv/arch/x86_64/upcall.c). The guest takes one upcall at each of several rsp values on a stack
// area of its own, filled with a pattern, and checks the frame's address (the callback's argument),
// the frame's copy of rsp, and that no byte of the red zone or above it was written; and that inside
// the callback evtchn_upcall_mask reads exactly 1, as Xen writes it (a guest may save and restore
// the byte, Xen's local_irq_save, and compare it with 1).
#include <moat/guest.h>
#include <moat/test.h>
#include <moat/time.h>
#include <moat/upcall.h>
#include <moat/vcpu.h>

#define PATTERN 0xa5
#define FRAME_SIZE sizeof(struct upcall_frame)

/* The stack the upcalls are taken on: the handler and upcall_entry's XSAVE area run below the frame. */
static uint8_t area[24 * 1024] __attribute__((aligned(64)));

static volatile uint64_t seen_frame, seen_rsp;
static volatile unsigned upcalls;
static volatile uint8_t seen_mask;

void upcall_handler(struct upcall_frame *frame)
{
    seen_frame = (uint64_t)(uintptr_t)frame;
    seen_rsp = frame->rsp;
    seen_mask = shared_info->vcpu_info[vcpu_self()].evtchn_upcall_mask;
    upcalls++;
    timer_ack();
}

/* One upcall delivered on the way out of a hypercall made with rsp = `rsp`. */
static void upcall_at(uint64_t rsp)
{
    xtf_assert(upcall_take_at(rsp), "no event pending 5 s after the timer");
}

static void check_placement(unsigned misalign)
{
    uint64_t rsp = (uint64_t)(uintptr_t)&area[sizeof(area) - 1024 + misalign]; /* area is 64-byte aligned */
    memset(&area[sizeof(area) - 4096], PATTERN, 4096);
    unsigned before = upcalls;
    upcall_at(rsp);
    if (!xtf_check(upcalls == before + 1, "rsp %% 16 = %u: %u upcalls, not one", misalign, upcalls - before))
        return;
    uint64_t want = (rsp - 128 - FRAME_SIZE) & ~15ull;
    printf("rsp %% 16 = %2u: rsp %#lx, frame %#lx\n", misalign, (unsigned long)rsp, (unsigned long)seen_frame);
    xtf_check(seen_frame == want, "rsp %#lx: the frame at %#lx, not %#lx", (unsigned long)rsp,
              (unsigned long)seen_frame, (unsigned long)want);
    xtf_check(seen_rsp == rsp, "rsp %#lx: the frame says rsp %#lx", (unsigned long)rsp, (unsigned long)seen_rsp);
    xtf_check(seen_mask == 1, "rsp %#lx: evtchn_upcall_mask %u in the callback, not 1", (unsigned long)rsp, seen_mask);
    /* The red zone and everything above it: not one byte written. */
    const uint8_t *p = (const uint8_t *)(uintptr_t)(rsp - 128);
    for (unsigned i = 0; i < 128 + 256; i++)
        if (!xtf_check(p[i] == PATTERN, "rsp %#lx: byte rsp%+d written (%#x)", (unsigned long)rsp, (int)i - 128,
                       p[i]))
            return;
}

void test_main(void)
{
    xtf_assert(timer_bind() > 0, "binding VIRQ_TIMER failed");
    xtf_check_eq(upcall_install(), 0);
    /* Every remainder class of rsp modulo 16 that moves the frame differently: 0 (the frame
     * right at rsp - 272), 8 (an ordinary call depth), and the odd ones at either end. */
    static const unsigned misaligned[] = {0, 8, 1, 15, 7};
    for (unsigned i = 0; i < sizeof(misaligned) / sizeof(misaligned[0]); i++)
        check_placement(misaligned[i]);
    printf("upcall frames: 16-byte aligned, right below the red zone\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
