/* SPDX-License-Identifier: MIT */
/* Random numbers from the CPU (arch/x86_64/random.c). */
#ifndef MOAT_RANDOM_H
#define MOAT_RANDOM_H

#include <moat/types.h>

/* 64 random bits from the CPU's generator (RDRAND); false when it has none or it keeps failing. */
bool arch_random_u64(uint64_t *out);

#endif
