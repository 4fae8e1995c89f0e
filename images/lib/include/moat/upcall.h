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

#include <public/hv.h>

/* The assembly entry point to register with set_callbacks. */
void upcall_entry(void);

/*
 * Called with events masked. The library's default (a weak symbol) acknowledges the upcall by
 * clearing evtchn_upcall_pending; a guest (or the event-channel code) overrides it.
 */
void upcall_handler(struct upcall_frame *frame);

/* Registers upcall_entry as the event callback. Returns 0 or -errno. */
long upcall_install(void);

#endif
