/* SPDX-License-Identifier: MIT */
/* Where a block's last instruction can go when it is an x86 conditional jump. */
#ifndef MOAT_JUMP_DECODE_H
#define MOAT_JUMP_DECODE_H

#include <stddef.h>
#include <stdint.h>

struct cond_jump {
    uint64_t taken; /* the jump's target */
    uint64_t fall;  /* the next instruction */
};

/*
 * code[0..len) is one whole instruction at addr. Returns 1 and fills *out when it is a
 * conditional jump with a direct target (jcc rel8 or rel32, loop/loope/loopne, jrcxz/jecxz),
 * 0 otherwise (any other instruction, or bytes that do not make one such jump exactly).
 * wrap32: the code runs in 32-bit mode, where the target wraps at 4 GiB.
 */
int decode_cond_jump(const uint8_t *code, size_t len, uint64_t addr, int wrap32, struct cond_jump *out);

#endif
