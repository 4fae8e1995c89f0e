/* SPDX-License-Identifier: MIT */
/*
 * Hypercalls: hypercall0..5 issue `syscall` per the calling convention in public/hv.h (number in
 * rax, arguments in rdi, rsi, rdx, r10, r8, result in rax; rcx and r11 are overwritten by the
 * instruction). One wrapper per hypercall with Xen's names, plus small helpers for the common
 * sub-commands. Results are negative Xen errno values on error.
 */
#ifndef MOAT_GUEST_HYPERCALL_H
#define MOAT_GUEST_HYPERCALL_H

#include <stdint.h>

#include <public/domctl.h>
#include <public/event_channel.h>
#include <public/hv.h>
#include <public/sched.h>
#include <public/vcpu.h>

static inline long hypercall0(unsigned long nr)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
    return ret;
}

static inline long hypercall1(unsigned long nr, unsigned long a1)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1) : "rcx", "r11", "memory");
    return ret;
}

static inline long hypercall2(unsigned long nr, unsigned long a1, unsigned long a2)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1), "S"(a2) : "rcx", "r11", "memory");
    return ret;
}

static inline long hypercall3(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1), "S"(a2), "d"(a3) : "rcx", "r11", "memory");
    return ret;
}

static inline long hypercall4(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3,
                              unsigned long a4)
{
    long ret;
    register unsigned long r10 __asm__("r10") = a4;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline long hypercall5(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3,
                              unsigned long a4, unsigned long a5)
{
    long ret;
    register unsigned long r10 __asm__("r10") = a4;
    register unsigned long r8 __asm__("r8") = a5;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}

/* One wrapper per hypercall. Pointers are passed as they are, so tests can hand in bad ones. */

static inline long HYPERVISOR_set_callbacks(unsigned long event_rip, unsigned long flags)
{
    return hypercall2(__HYPERVISOR_set_callbacks, event_rip, flags);
}

static inline long HYPERVISOR_memory_op(unsigned int cmd, void *arg)
{
    return hypercall2(__HYPERVISOR_memory_op, cmd, (unsigned long)arg);
}

static inline long HYPERVISOR_set_timer_op(uint64_t deadline_ns)
{
    return hypercall1(__HYPERVISOR_set_timer_op, deadline_ns);
}

static inline long HYPERVISOR_xen_version(int cmd, void *arg)
{
    return hypercall2(__HYPERVISOR_xen_version, (unsigned long)(long)cmd, (unsigned long)arg);
}

static inline long HYPERVISOR_console_io(int cmd, unsigned long count, const char *buf)
{
    return hypercall3(__HYPERVISOR_console_io, (unsigned long)(long)cmd, count, (unsigned long)buf);
}

/* Xen passes a count of operations as the third argument; moat keeps that shape. */
static inline long HYPERVISOR_grant_table_op(unsigned int cmd, void *uop, unsigned int count)
{
    return hypercall3(__HYPERVISOR_grant_table_op, cmd, (unsigned long)uop, count);
}

/* Does not return on success: the interrupted context resumes. */
static inline long HYPERVISOR_iret(struct upcall_frame *frame)
{
    return hypercall1(__HYPERVISOR_iret, (unsigned long)frame);
}

static inline long HYPERVISOR_xsm_op(void *op)
{
    return hypercall1(__HYPERVISOR_xsm_op, (unsigned long)op);
}

static inline long HYPERVISOR_sched_op(int cmd, void *arg)
{
    return hypercall2(__HYPERVISOR_sched_op, (unsigned long)(long)cmd, (unsigned long)arg);
}

static inline long HYPERVISOR_event_channel_op(int cmd, void *arg)
{
    return hypercall2(__HYPERVISOR_event_channel_op, (unsigned long)(long)cmd, (unsigned long)arg);
}

/* vcpu_op(cmd, vcpuid, arg): VCPUOP_* on one of our own vCPUs (public/vcpu.h). */
static inline long HYPERVISOR_vcpu_op(int cmd, unsigned long vcpuid, void *arg)
{
    return hypercall3(__HYPERVISOR_vcpu_op, (unsigned long)(long)cmd, vcpuid, (unsigned long)arg);
}

static inline long HYPERVISOR_domctl(struct moat_domctl *op)
{
    return hypercall1(__HYPERVISOR_domctl, (unsigned long)op);
}

/* sched_op helpers. */
static inline long sched_yield(void)
{
    return HYPERVISOR_sched_op(SCHEDOP_yield, 0);
}

/* Unmasks events and sleeps until one is pending (a timer set with set_timer_op counts). */
static inline long sched_block(void)
{
    return HYPERVISOR_sched_op(SCHEDOP_block, 0);
}

/*
 * SCHEDOP_send_poll (moat's, public/sched.h): sends on `send` (0: no send) and sleeps until `poll`
 * is pending, in one hypercall; returns 0 at once if it already is. The caller clears the bit.
 */
static inline long sched_send_poll(evtchn_port_t send, evtchn_port_t poll)
{
    return hypercall3(__HYPERVISOR_sched_op, SCHEDOP_send_poll, send, poll);
}

/* Returns only on error. */
long sched_shutdown(unsigned int reason);

/* Sleeps until one of ports is pending or system time reaches timeout_ns (0: no timeout). */
long sched_poll(evtchn_port_t *ports, unsigned int nr_ports, uint64_t timeout_ns);

/* memory_op helper: the calling domain's current reservation in pages. */
long memory_current_reservation(void);

/* domctl helpers; each fills in cmd and interface_version. */
struct domctl_create_args {
    uint32_t image;        /* index into start_info.image_names */
    uint32_t memory_kib;
    uint32_t ssidref;
    const char *name;
    const char *cmdline;   /* may be NULL */
    uint32_t devices;      /* DEVICE_* bits (public/device.h) the new domain is assigned */
    uint32_t flags;        /* DOMCTL_CREATE_* (public/domctl.h): PAUSED, started by domctl_unpause */
    uint16_t max_vcpus;    /* its vCPUs; 0: one */
};
long domctl_create(const struct domctl_create_args *args, domid_t *domid);
long domctl_destroy(domid_t domid);
long domctl_pause(domid_t domid);
long domctl_unpause(domid_t domid);
long domctl_getinfo(domid_t domid, struct moat_domctl_info *info);
/* The id of another domain called name whose information the caller may read, or -1. */
long domctl_find(const char *name);
/* Where one of a domain's vCPUs is (XEN_DOMCTL_getvcpuinfo, read_state over its label). */
long domctl_getvcpuinfo(domid_t domid, uint32_t vcpu, struct moat_domctl_vcpu *info);
/* Pins vCPU vcpu of a domain to cpu, or unpins it (MOAT_CPU_ANY): XEN_DOMCTL_setvcpuaffinity. */
long domctl_setvcpuaffinity(domid_t domid, uint32_t vcpu, uint32_t cpu);
/* The domain's meters (public/stats.h); read_state over its label, as getinfo. */
long domctl_getstats(domid_t domid, struct moat_domain_stats *stats);
/* A domain's weight and cap (public/stats.h): get under read_state, set under pause. */
long domctl_getsched(domid_t domid, struct moat_domctl_sched *sched);
long domctl_setsched(domid_t domid, uint32_t weight, uint32_t cap);

#endif
