/* SPDX-License-Identifier: MIT */
/* vcpu_op: a domain brings its own secondary vCPUs up and down (core/vcpu.c, public/vcpu.h). */
#ifndef MOAT_VCPU_H
#define MOAT_VCPU_H

#include <moat/types.h>

long do_vcpu_op(uint64_t cmd, uint64_t vcpuid, uint64_t arg, uint64_t a4, uint64_t a5);

#endif
