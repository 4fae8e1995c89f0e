/* SPDX-License-Identifier: MIT */
/*
 * Bounds checks that hold under speculation (Spectre variant 1). A CPU may run past a bounds check
 * before it resolves, reading table[index] with an index the check was about to refuse and
 * leaving a trace in the cache. Every index a guest controls is therefore passed through
 * array_index_nospec() *after* its bounds check: the result is the index itself when it is in
 * range and 0 when it is not, computed without a branch (cmp + sbb), so even a mispredicted
 * check cannot use an out-of-range value. This file is the one place that does it; the guest
 * indices it guards: the hypercall number, event-channel ports and VIRQ numbers, grant refs and
 * maptrack handles, domain ids, image indices, PFNs, and the label (row) and type indices into a
 * policy's matrices (docs/security.md).
 *
 * Freestanding: also built into the host tests of the policy parser (x86-64 only).
 */
#ifndef MOAT_NOSPEC_H
#define MOAT_NOSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ~0 when index < size, else 0; no branch the CPU could predict. */
static inline uint64_t array_index_mask_nospec(uint64_t index, uint64_t size)
{
    uint64_t mask;
    __asm__("cmpq %2, %1\n\tsbbq %0, %0" : "=r"(mask) : "r"(index), "r"(size) : "cc");
    return mask;
}

/*
 * The bounds check and array_index_mask_nospec from one compare: true, and *mask ~0, when
 * index < size; false, and *mask 0, otherwise. The caller branches on the result (the compare's
 * own carry, no second test) and indexes with index & *mask, which is 0 on a mispredicted branch.
 */
static inline bool array_index_check_nospec(uint64_t index, uint64_t size, uint64_t *mask)
{
    bool below;
    __asm__("cmpq %3, %2\n\tsbbq %0, %0" : "=r"(*mask), "=@ccb"(below) : "r"(index), "r"(size));
    return below; /* sbb of a register from itself leaves the carry as the compare set it */
}

/* index when index < size, else 0: use after the bounds check, on the value that indexes. */
static inline uint64_t array_index_nospec(uint64_t index, uint64_t size)
{
    return index & array_index_mask_nospec(index, size);
}

#endif
