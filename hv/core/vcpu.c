// SPDX-License-Identifier: MIT
// vcpu_op (public/vcpu.h): VCPUOP_initialise, up, down and is_up on the caller's own domain's
// vCPUs. What a vCPU is and how it is scheduled: moat/domain.h, core/sched.c.
#include <moat/arch.h>
#include <moat/domain.h>
#include <moat/lib.h>
#include <moat/nospec.h>
#include <moat/sched.h>
#include <moat/vcpu.h>
#include <public/domctl.h>
#include <public/vcpu.h>

_Static_assert(MOAT_MAX_VCPUS <= MOAT_LEGACY_VCPUS, "one vcpu_info per vCPU in the shared-info page");
_Static_assert(MOAT_MAX_VCPUS <= 256, "evtchn_table.notify_vcpu is a byte");

struct vcpu *domain_vcpu(struct domain *d, uint64_t vcpu_id)
{
    if (vcpu_id >= d->nr_vcpus)
        return NULL;
    return &d->vcpus[array_index_nospec(vcpu_id, d->nr_vcpus)];
}

/* A stack pointer inside d's RAM (the top of RAM included: a push goes below it). */
static bool guest_stack_address(const struct domain *d, uint64_t rsp)
{
    return rsp > GUEST_RAM_VA && rsp <= GUEST_RAM_VA + d->nr_pages * PAGE_SIZE;
}

static long vcpu_initialise(struct vcpu *v, uint64_t arg)
{
    struct vcpu_guest_context c;
    if (copy_from_guest(&c, arg, sizeof(c)))
        return -XEN_EFAULT;
    if (v->initialised)
        return -XEN_EEXIST; /* as Xen: each vCPU is initialised once */
    const struct domain *d = v->domain;
    uint64_t entry, stack, start_arg, callback;
    arch_vcpu_context(&c, &entry, &stack, &start_arg, &callback);
    if (!guest_code_address(d, entry) || !guest_stack_address(d, stack) ||
        (callback && !guest_code_address(d, callback)))
        return -XEN_EINVAL;
    arch_vcpu_start(&v->regs, entry, stack, start_arg);
    v->callback_rip = callback;
    v->initialised = true;
    return 0;
}

long do_vcpu_op(uint64_t cmd, uint64_t vcpuid, uint64_t arg, uint64_t a4, uint64_t a5)
{
    (void)a4, (void)a5;
    struct domain *d = current_domain();
    if (vcpuid >= MOAT_MAX_VCPUS)
        return -XEN_EINVAL;
    struct vcpu *v = domain_vcpu(d, vcpuid);
    if (!v)
        return -XEN_ENOENT;
    switch (cmd) {
    case VCPUOP_initialise:
        return vcpu_initialise(v, arg);
    case VCPUOP_up:
        if (!v->initialised)
            return -XEN_EINVAL;
        /* Where its pinning says (scenario `cpu`, domctl setvcpuaffinity), else where the
         * scheduler places it (docs/hypervisor.md, "vCPUs"). */
        sched_vcpu_up(v, v->pinned, v->cpu);
        return 0;
    case VCPUOP_down:
        sched_vcpu_down(v);
        return 0;
    case VCPUOP_is_up:
        return v->state != VCPU_DOWN;
    default:
        return -XEN_ENOSYS;
    }
}

long vcpu_set_affinity(struct domain *d, uint32_t vcpu_id, uint32_t cpu)
{
    struct vcpu *v = domain_vcpu(d, vcpu_id);
    if (!v)
        return -XEN_EINVAL; /* as Xen's setvcpuaffinity for a vCPU beyond max_vcpus */
    return sched_vcpu_pin(v, cpu != MOAT_CPU_ANY, cpu);
}

long vcpu_get_info(struct domain *d, struct moat_domctl_vcpu *info)
{
    const struct vcpu *v = domain_vcpu(d, info->vcpu);
    if (!v)
        return -XEN_EINVAL;
    *info = (struct moat_domctl_vcpu){
        .vcpu = info->vcpu,
        .cpu = v->cpu,
        .online = v->state != VCPU_DOWN,
        .blocked = v->state == VCPU_BLOCKED,
        .pinned = v->pinned,
    };
    return 0;
}
