// SPDX-License-Identifier: MIT
// An event upcall due while the guest's rsp leaves no room for its frame (tests/domains/
// test_upcall_stack.py): the hypervisor writes the frame straight onto the guest stack
// (upcall_frame_push, hv/arch/x86_64/syscall.S), so every way that can go wrong must end with
// this domain killed ("cannot push an upcall frame") and the hypervisor untouched.
//   at=low       rsp below 256 (the frame would wrap around): refused before any write
//   at=zero      the frame would start at address 0: refused before any write
//   at=edge      the frame would end past GUEST_VA_LIMIT: refused by the range check
//   at=top       the frame would end exactly at GUEST_VA_LIMIT: a user range, so it is tried, and
//                its first store faults (nothing is mapped in the last user page)
//   at=high      rsp in the hypervisor's half: refused by the range check
//   at=unmapped  an unmapped user address: the first store faults (rep movsq's fixup)
//   at=tail      the frame's last words past the top of RAM: the registers and rip land, the
//                rflags store faults (the fixups of the three single stores)
// With events masked, the timer makes an upcall pending; then, in one asm block, rsp is pointed
// there, events are unmasked and a hypercall is made: its way out delivers the upcall.
#include <moat/test.h>
#include <moat/time.h>
#include <moat/upcall.h>

static uint64_t bad_rsp(void)
{
    const uint64_t frame = sizeof(struct upcall_frame), below = 128 + frame; /* red zone + frame */
    if (cmdline_has("at=low"))
        return 0x100;
    if (cmdline_has("at=zero"))
        return below; /* (rsp - 272) & ~15 == 0 */
    if (cmdline_has("at=edge"))
        return GUEST_VA_LIMIT - frame + 16 + below; /* the frame at GUEST_VA_LIMIT - 128 */
    if (cmdline_has("at=top"))
        return GUEST_VA_LIMIT + 128 + 15; /* (rsp - 272) & ~15 == GUEST_VA_LIMIT - frame */
    if (cmdline_has("at=high"))
        return GUEST_VA_LIMIT + 0x1000;
    if (cmdline_has("at=unmapped"))
        return (1ULL << 40) + below;
    if (cmdline_has("at=tail"))
        return start_info->stack_top - 128 + below; /* the frame at the top of RAM - 128 */
    return 0;
}

void upcall_handler(struct upcall_frame *frame)
{
    (void)frame;
    xtf_failure("Fail: the upcall was delivered with rsp at %#lx\n", (unsigned long)bad_rsp());
    xtf_exit();
}

void test_main(void)
{
    uint64_t rsp = bad_rsp();
    if (!rsp) {
        xtf_error("Error: no at= in the command line\n");
        return;
    }
    xtf_assert(timer_bind() > 0, "binding VIRQ_TIMER failed");
    xtf_check_eq(upcall_install(), 0);
    printf("upcall due with rsp at %#lx\n", (unsigned long)rsp);
    xtf_assert(upcall_take_at(rsp), "no event pending 5 s after the timer");
    xtf_failure("Fail: the hypervisor returned with the upcall still due\n");
}
