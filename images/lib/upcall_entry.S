/* SPDX-License-Identifier: MIT */
/*
 * Event upcall entry (public/hv.h): entered with rsp = rdi = struct upcall_frame *, 16-byte
 * aligned, events masked. The frame holds every register of the interrupted context, so nothing
 * needs saving here; iret(frame) restores them all and unmasks events.
 */
    .text
    .globl upcall_entry
    .type upcall_entry, @function
upcall_entry:
    cld
    xor %ebp, %ebp              /* a fresh frame chain: the interrupted one is in the frame */
    call upcall_handler         /* rdi = frame; rsp 16-aligned before the call, as the ABI wants */
    mov %rsp, %rdi              /* the frame is still at rsp: the handler may have changed rdi */
    mov $23, %eax               /* __HYPERVISOR_iret */
    syscall
    /* iret returned: the frame was refused. Nothing sane to resume; crash the domain. */
    call upcall_iret_failed
    ud2
    .size upcall_entry, . - upcall_entry
