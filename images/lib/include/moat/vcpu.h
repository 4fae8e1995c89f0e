/* SPDX-License-Identifier: MIT */
/*
 * Secondary vCPUs (public/vcpu.h, docs/hypervisor.md "vCPUs"). A domain with `vcpus = n` starts
 * on vCPU 0; vcpu_start(id, fn) gives vCPU id a stack of its own (VCPU_STACK_SIZE, from the
 * library), initialises it to run fn(id) with the event-channel dispatcher as its upcall entry
 * and its own upcalls unmasked, and brings it up. When fn returns the vCPU brings itself down.
 *
 * Each vCPU has its own vcpu_info (upcall pending, mask, pending_sel): the event-channel library
 * and the default upcall handler use the caller's, found by vcpu_self() from the stack it runs
 * on. So an upcall runs on the vCPU its port is bound to (evtchn_bind_ipi, evtchn_bind_vcpu),
 * and evtchn_upcalls_mask/restore mask the calling vCPU only. Port handlers are shared by all
 * vCPUs: a handler may run on any vCPU its port is bound to, concurrently with other vCPUs'.
 * Share data between vCPUs with atomics or a lock (<moat/spinlock.h>).
 */
#ifndef MOAT_GUEST_VCPU_H
#define MOAT_GUEST_VCPU_H

#include <stdint.h>

#include <public/vcpu.h>

#define VCPU_STACK_SIZE 16384

/* Starts vCPU id (1 to MOAT_MAX_VCPUS - 1) running fn(id). Returns 0 or the VCPUOP error. */
long vcpu_start(unsigned id, void (*fn)(unsigned id));
/* VCPUOP_is_up: 1, 0, or a negative error. */
long vcpu_is_up(unsigned id);
/* Brings vCPU id down (itself: returns only when brought up again). */
long vcpu_down(unsigned id);
/* The vCPU the caller runs on. Inline, and one load and a branch while only vCPU 0 runs: the
 * event-channel library asks at every upcall and every mask. */
extern unsigned vcpu_stacks_n;
unsigned vcpu_self_slow(void);
static inline unsigned vcpu_self(void)
{
    return __atomic_load_n(&vcpu_stacks_n, __ATOMIC_ACQUIRE) ? vcpu_self_slow() : 0;
}

#endif
