/* SPDX-License-Identifier: MIT */
/* vcpu_op: a domain brings its own secondary vCPUs up and down (core/vcpu.c, public/vcpu.h). */
#ifndef MOAT_VCPU_H
#define MOAT_VCPU_H

#include <moat/types.h>

long do_vcpu_op(uint64_t cmd, uint64_t vcpuid, uint64_t arg, uint64_t a4, uint64_t a5);

struct domain;
struct moat_domctl_vcpu;
/* domctl setvcpuaffinity (public/domctl.h): pins d's vCPU vcpu_id to cpu, or unpins it. */
long vcpu_set_affinity(struct domain *d, uint32_t vcpu_id, uint32_t cpu);
/* domctl getvcpuinfo: where d's vCPU info->vcpu is and its state; -EINVAL if d has no such vCPU. */
long vcpu_get_info(struct domain *d, struct moat_domctl_vcpu *info);

#endif
