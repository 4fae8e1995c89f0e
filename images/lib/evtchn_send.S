/* SPDX-License-Identifier: MIT */
/*
 * long evtchn_send(evtchn_port_t port): HYPERVISOR_event_channel_op(EVTCHNOP_send, &op) with op,
 * its 4-byte port, in the caller's red zone. It is the hot path of every event, so it has no
 * stack frame (the syscall touches no user memory, and an upcall on the way back pushes its
 * frame below the red zone). Assembly rather than a naked C function, whose missing return value
 * the compilers' analyzers rightly cannot follow. The numbers are checked in evtchn.c
 * (_Static_assert beside its declaration's users): EVTCHNOP_send 4, event_channel_op 32.
 */
    .text
    .globl evtchn_send
    .type evtchn_send, @function
evtchn_send:
    movl %edi, -4(%rsp)
    lea -4(%rsp), %rsi
    mov $4, %edi            /* EVTCHNOP_send */
    mov $32, %eax           /* __HYPERVISOR_event_channel_op */
    syscall
    ret
    .size evtchn_send, . - evtchn_send
    .section .note.GNU-stack, "", @progbits
