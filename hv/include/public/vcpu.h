/* SPDX-License-Identifier: MIT */
/*
 * vcpu_op(cmd, vcpuid, arg): bringing a domain's secondary vCPUs up and down. Xen's hypercall and
 * op numbers; the initial context is a subset of Xen's vcpu_guest_context (moat's guests are
 * paravirtualized ring-3 programs: registers, stack and event callback are all a vCPU needs), so
 * its layout is moat's own. A domain has `vcpus = n` vCPUs (the scenario), 1 to MOAT_MAX_VCPUS;
 * vCPU 0 starts at the image's entry, the others start down and uninitialised.
 *
 * Errors, as Xen: vcpuid >= MOAT_MAX_VCPUS -EINVAL; a vCPU the domain does not have -ENOENT;
 * initialise twice -EEXIST; up before initialise -EINVAL; an unknown cmd -ENOSYS.
 */
#ifndef MOAT_PUBLIC_VCPU_H
#define MOAT_PUBLIC_VCPU_H

#include "hv.h"

#define MOAT_MAX_VCPUS 8

#define VCPUOP_initialise 0 /* arg: struct vcpu_guest_context *; the vCPU stays down */
#define VCPUOP_up 1         /* makes an initialised vCPU runnable; 0 if already up */
#define VCPUOP_down 2       /* stops it (at once when it is the caller); 0 if already down */
#define VCPUOP_is_up 3      /* 1 or 0 */

struct vcpu_guest_context {
    uint64_t rip;          /* where it starts */
    uint64_t rsp;          /* its stack: inside the domain's RAM */
    uint64_t rdi;          /* its first argument */
    uint64_t callback_rip; /* its event upcall entry (as set_callbacks); 0 = none yet */
};

#endif
