/* SPDX-License-Identifier: MIT */
/*
 * Event upcalls (public/hv.h): the hypervisor pushes the interrupted context as a struct
 * upcall_frame on the guest stack and enters the registered callback with rsp = rdi = frame and
 * events masked. upcall_entry (upcall_entry.S) saves the extended state, calls
 * upcall_handler(frame), restores it and then calls iret(frame), which restores the interrupted
 * context and unmasks events. The event-channel library registers the same trampoline around its
 * dispatcher (evtchn_upcall_entry, <moat/evtchn.h>).
 */
#ifndef MOAT_GUEST_UPCALL_H
#define MOAT_GUEST_UPCALL_H

#include <stdbool.h>
#include <stdint.h>

#include <public/hv.h>

/* The assembly entry point to register with set_callbacks, in its XSAVE and FXSAVE forms. */
void upcall_entry(void);
void upcall_entry_fx(void);
/* The form of an entry (upcall_entry, evtchn_upcall_entry) to register: xsave_form where
 * xstate_init found XSAVE, else fx_form (upcall_entry.S). */
uintptr_t upcall_entry_form(void (*xsave_form)(void), void (*fx_form)(void));

/*
 * Called with events masked. The library's default (a weak symbol) acknowledges the upcall by
 * clearing evtchn_upcall_pending; a guest (or the event-channel code) overrides it.
 */
void upcall_handler(struct upcall_frame *frame);

/* Registers upcall_entry as the event callback. Returns 0 or -errno. */
long upcall_install(void);

/*
 * For tests of where the hypervisor puts an upcall frame: makes the timer's upcall due with
 * events masked, then unmasks them and makes a hypercall with the stack pointer at `rsp`, so the
 * upcall is delivered on that hypercall's way out with `rsp` as the interrupted stack pointer.
 * False if no event was pending 5 s after the timer (nothing was attempted then); true once the
 * hypercall returned (the frame could be pushed, or the vCPU is gone if it could not).
 * Needs VIRQ_TIMER bound and a callback registered.
 */
bool upcall_take_at(uint64_t rsp);

#endif
