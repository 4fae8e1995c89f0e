/* SPDX-License-Identifier: MIT */
/*
 * The guest event-channel library: one wrapper per EVTCHNOP_* (public/event_channel.h), port
 * helpers on the shared-info bitmaps, a handler per port dispatched from the event upcall, a
 * blocking wait and an event loop. docs/event-channels.md explains the model.
 *
 * Opting in: evtchn_init() registers the library's own upcall entry (evtchn_upcall_entry), which
 * runs evtchn_upcall_handler(). The runtime's weak upcall_handler is left alone, so a guest that
 * does not use events, or that has an upcall_handler of its own, is not changed by linking this
 * file; such a guest may call evtchn_upcall_handler() from its own handler instead.
 *
 * Results: the op wrappers return a port (>= 1, port 0 is never handed out) or 0 on success,
 * and a negative Xen errno (-XEN_EINVAL ...) on failure, exactly as the hypervisor returned it.
 */
#ifndef MOAT_GUEST_EVTCHN_H
#define MOAT_GUEST_EVTCHN_H

#include <stdbool.h>
#include <stdint.h>

#include <public/event_channel.h>
#include <public/hv.h>

/* The most ports the library tracks: the 2-level ABI's limit for 64-bit guests. */
#define EVTCHN_LIB_PORTS EVTCHN_MAX_PORTS

/* ---- the ops: thin wrappers, one hypercall each ---- */

/* A port of ours that remote (DOMID_SELF allowed) may bind to. Returns the port. */
long evtchn_alloc_unbound(domid_t remote);
/* The same for a port of domain dom (a foreign dom needs the policy's permission). */
long evtchn_alloc_unbound_in(domid_t dom, domid_t remote);
/* Binds to remote's unbound port (which must name us). Returns our new port, which starts pending. */
long evtchn_bind_interdomain(domid_t remote, evtchn_port_t remote_port);
long evtchn_bind_virq(uint32_t virq, uint32_t vcpu);
/* A port whose events go to vCPU vcpu (of this domain); send on it from any vCPU. */
long evtchn_bind_ipi(uint32_t vcpu);
/* Moves an interdomain, unbound or global-VIRQ port's events to vCPU vcpu. Returns 0. */
long evtchn_bind_vcpu(evtchn_port_t port, uint32_t vcpu);
long evtchn_send(evtchn_port_t port);
/* Closes the port and forgets its handler. */
long evtchn_close(evtchn_port_t port);
/* Fills *st (status, vcpu, u) for dom's port. */
long evtchn_status(domid_t dom, evtchn_port_t port, struct evtchn_status *st);
/* EVTCHNOP_unmask: the hypervisor clears the mask bit and re-raises the port if it is pending. */
long evtchn_unmask(evtchn_port_t port);
/* Closes every port of dom (DOMID_SELF: ours; the library then forgets every handler). */
long evtchn_reset(domid_t dom);

/*
 * Binds to remote's port, retrying while it is not (yet) unbound for us: the usual start-up
 * rendezvous when the peer allocates the port by itself. Gives up at system time deadline_ns
 * (0: never) and returns the last error.
 */
long evtchn_connect(domid_t remote, evtchn_port_t remote_port, uint64_t deadline_ns);

/* ---- port helpers: the shared-info bitmaps, with atomics ---- */

bool evtchn_port_pending(evtchn_port_t port);
bool evtchn_port_masked(evtchn_port_t port);
void evtchn_port_mask(evtchn_port_t port);
/* Clears the mask bit; if the port is pending, asks the hypervisor to re-raise it (one upcall). */
void evtchn_port_unmask(evtchn_port_t port);
void evtchn_port_clear(evtchn_port_t port);
/* Clears the pending bit and says whether it was set. */
bool evtchn_port_test_and_clear(evtchn_port_t port);

/* ---- upcall masking (Xen's local_irq_save/restore on evtchn_upcall_mask) ---- */

/* Masks upcalls and returns the previous mask. */
uint8_t evtchn_upcalls_mask(void);
/* Restores the mask; when that unmasks with an upcall pending, enters it now (one hypercall). */
void evtchn_upcalls_restore(uint8_t old);

/* ---- handlers and dispatch ---- */

typedef void (*evtchn_handler_t)(evtchn_port_t port, void *data);

/*
 * Clears the handler table, registers evtchn_upcall_entry as the event callback and unmasks
 * upcalls (a domain starts with them masked). Returns 0 or the set_callbacks error.
 */
long evtchn_init(void);

/* Sets (or with NULL removes) the handler of port; called with upcalls masked, from the upcall. */
void evtchn_set_handler(evtchn_port_t port, evtchn_handler_t fn, void *data);

/*
 * The 2-level scan: clears upcall_pending, swaps the selector with 0, and for every selected word
 * takes pending & ~mask, clearing each bit before calling the port's handler. The event of a
 * port without a handler is latched as fired, for evtchn_wait. Must run with upcalls masked.
 */
struct upcall_frame;
void evtchn_upcall_handler(struct upcall_frame *frame);
/* The entry evtchn_init registers: upcall_entry.S's trampoline around evtchn_upcall_handler, in
 * its XSAVE and FXSAVE forms (upcall_entry_form, <moat/upcall.h>, picks one). */
void evtchn_upcall_entry(void);
void evtchn_upcall_entry_fx(void);

/* Upcalls taken by evtchn_upcall_handler since evtchn_init (tests and benchmarks read it). */
extern volatile uint64_t evtchn_upcall_count;

/* ---- waiting ---- */

/*
 * Sleeps until port fires, then consumes that event and returns 0. Meant for ports without a
 * handler (a handler gets the events the dispatcher sees; the wait then sees only those that are
 * still pending). An event counts whether the dispatcher latched it (the port is unmasked) or it
 * is still pending (the port is masked, or upcalls are masked): upcalls are masked while it checks, and it sleeps with SCHEDOP_poll, which
 * re-checks the pending bit in the hypervisor before sleeping, so no event is lost between the
 * check and the sleep. Gives up with -XEN_ETIMEDOUT at system time deadline_ns (0: never); an
 * invalid port gives -XEN_EINVAL.
 */
long evtchn_wait(evtchn_port_t port, uint64_t deadline_ns);

/*
 * The leanest request and answer the ABI offers: sends on `send` (0: none) and sleeps until
 * `port` fires, then consumes that event and returns 0, with one hypercall when the answer is not
 * there yet (SCHEDOP_send_poll; no upcall, no dispatcher). The caller keeps upcalls masked
 * (evtchn_upcalls_mask), as for evtchn_wait, and best masks `port` too (evtchn_port_mask), so that
 * its events raise no upcall flag; an event the dispatcher latched before counts as well. Returns
 * the send's or the poll's error (-XEN_EINVAL for an invalid port, nothing sent then).
 */
long evtchn_send_wait(evtchn_port_t send, evtchn_port_t port);

/* Whether the dispatcher latched an event of port (no handler) since the last call; clears it. */
bool evtchn_take_fired(evtchn_port_t port);

/*
 * The event loop: runs handlers (from upcalls) until done(ctx) is true. Checks done with upcalls
 * masked and sleeps with SCHEDOP_block, which unmasks and sleeps atomically (and returns at once
 * when an upcall is already pending), so a handler that makes done true is never slept through.
 * With deadline_ns (system time; 0: none) it also arms set_timer_op (VIRQ_TIMER, bound with
 * timer_bind; this replaces any timer the guest had) and gives up with -XEN_ETIMEDOUT. Returns 0,
 * or the failing hypercall's error. The upcall mask is restored to what it was on entry.
 */
long evtchn_loop(bool (*done)(void *ctx), void *ctx, uint64_t deadline_ns);

#endif
