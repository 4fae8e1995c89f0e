/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 compression with the x86 SHA extensions (sha256rnds2, sha256msg1, sha256msg2): about
 * 155 instructions a 64-byte block where the portable rounds of hv/lib/sha256.c take about 2,870.
 * The measured launch hashes every byte the machine boots (the hypervisor image, the policy, the
 * manifest, each guest) and every relabel and policy load, so this is most of the boot's work.
 * sha256_arch.c calls it only when CPUID reports SHA, SSSE3 and SSE4.1 and the boot CPU has
 * turned SSE on (CR4.OSFXSR); hv/lib/sha256.c falls back to the portable rounds otherwise, and
 * both give the same digests (tests/boot/test_sha256_selftest.py runs the vectors both ways).
 *
 * The hypervisor is built without SSE (-mgeneral-regs-only), so xmm0-xmm7 hold whatever the
 * running guest left there (extended state is switched eagerly). They are saved on this stack
 * on entry and put back before returning: a guest never sees the hypervisor's (or another
 * guest's) hash state, and its own values survive the hypercall that hashed. Only legacy SSE
 * encodings are used, which leave the upper halves of ymm and zmm untouched, and none of them
 * reads or writes MXCSR.
 *
 * The eight state words travel as two registers in the order the instructions want: ABEF
 * (dwords 3..0 = a, b, e, f) and CDGH (c, d, g, h). Each sha256rnds2 does two rounds, taking
 * the two message-plus-constant words from xmm0's low half, and leaves the new ABEF where CDGH
 * was: the two registers swap roles and swap back with the next.
 */
#define MSG     %xmm0   /* implicit operand of sha256rnds2 */
#define ABEF    %xmm1
#define CDGH    %xmm2
#define M0      %xmm3   /* the message schedule, four words a register, a ring of four */
#define M1      %xmm4
#define M2      %xmm5
#define M3      %xmm6
#define TMP     %xmm7

#define FRAME_XMM   0       /* xmm0-xmm7 of the guest, 16 bytes each */
#define FRAME_ABEF  128     /* the state at the start of the block, for the final addition */
#define FRAME_CDGH  144
#define FRAME_SIZE  160

    .section .rodata
    .balign 16
    /* pshufb mask: each 32-bit word byte-reversed (the message is big-endian). */
bswap32_mask:
    .byte 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12
    /* FIPS 180-4's 64 round constants; legacy SSE memory operands must be 16-byte aligned. */
    .balign 16
round_k:
    .long 0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
    .long 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
    .long 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
    .long 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
    .long 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
    .long 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
    .long 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
    .long 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2

    .text

/* Four rounds, 4i to 4i + 3, on the message words in \m. */
.macro ROUNDS4 i, m
    movdqa \m, MSG
    paddd round_k + 16 * \i(%rip), MSG
    sha256rnds2 MSG, ABEF, CDGH         /* rounds 4i, 4i + 1: CDGH becomes the new ABEF */
    pshufd $0x0e, MSG, MSG              /* the other two words to the low half */
    sha256rnds2 MSG, CDGH, ABEF         /* rounds 4i + 2, 4i + 3: back in place */
.endm

/*
 * The next four message words, W[t..t+3] for t = 4i >= 16, into \a, which holds W[t-16..t-13];
 * \b holds W[t-12..t-9], \c W[t-8..t-5] and \d W[t-4..t-1]:
 * W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16].
 */
.macro SCHEDULE a, b, c, d
    sha256msg1 \b, \a                   /* W[t-16..t-13] + s0(W[t-15..t-12]) */
    movdqa \d, TMP
    palignr $4, \c, TMP                 /* W[t-7..t-4] */
    paddd TMP, \a
    sha256msg2 \d, \a                   /* + s1 of W[t-2], W[t-1], then of the new W[t], W[t+1] */
.endm

    /* void sha256_ni_blocks(uint32_t h[8], const uint8_t *blocks, size_t n): n >= 1 whole blocks. */
    .globl sha256_ni_blocks
sha256_ni_blocks:
    pushq %rbp
    movq %rsp, %rbp
    andq $-16, %rsp
    subq $FRAME_SIZE, %rsp
    movdqa %xmm0, FRAME_XMM + 0 * 16(%rsp)
    movdqa %xmm1, FRAME_XMM + 1 * 16(%rsp)
    movdqa %xmm2, FRAME_XMM + 2 * 16(%rsp)
    movdqa %xmm3, FRAME_XMM + 3 * 16(%rsp)
    movdqa %xmm4, FRAME_XMM + 4 * 16(%rsp)
    movdqa %xmm5, FRAME_XMM + 5 * 16(%rsp)
    movdqa %xmm6, FRAME_XMM + 6 * 16(%rsp)
    movdqa %xmm7, FRAME_XMM + 7 * 16(%rsp)

    /* h[0..7] = a..h into ABEF = {f, e, b, a} and CDGH = {h, g, d, c} (dword 0 first). */
    movdqu 0(%rdi), TMP                 /* {a, b, c, d} */
    movdqu 16(%rdi), CDGH               /* {e, f, g, h} */
    pshufd $0xb1, TMP, TMP              /* {b, a, d, c} */
    pshufd $0x1b, CDGH, CDGH            /* {h, g, f, e} */
    movdqa TMP, ABEF
    palignr $8, CDGH, ABEF              /* {f, e, b, a} */
    pblendw $0xf0, TMP, CDGH            /* {h, g, d, c} */

1:  movdqa ABEF, FRAME_ABEF(%rsp)
    movdqa CDGH, FRAME_CDGH(%rsp)
    movdqu 0(%rsi), M0
    pshufb bswap32_mask(%rip), M0
    movdqu 16(%rsi), M1
    pshufb bswap32_mask(%rip), M1
    movdqu 32(%rsi), M2
    pshufb bswap32_mask(%rip), M2
    movdqu 48(%rsi), M3
    pshufb bswap32_mask(%rip), M3

    ROUNDS4 0, M0
    ROUNDS4 1, M1
    ROUNDS4 2, M2
    ROUNDS4 3, M3
    SCHEDULE M0, M1, M2, M3
    ROUNDS4 4, M0
    SCHEDULE M1, M2, M3, M0
    ROUNDS4 5, M1
    SCHEDULE M2, M3, M0, M1
    ROUNDS4 6, M2
    SCHEDULE M3, M0, M1, M2
    ROUNDS4 7, M3
    SCHEDULE M0, M1, M2, M3
    ROUNDS4 8, M0
    SCHEDULE M1, M2, M3, M0
    ROUNDS4 9, M1
    SCHEDULE M2, M3, M0, M1
    ROUNDS4 10, M2
    SCHEDULE M3, M0, M1, M2
    ROUNDS4 11, M3
    SCHEDULE M0, M1, M2, M3
    ROUNDS4 12, M0
    SCHEDULE M1, M2, M3, M0
    ROUNDS4 13, M1
    SCHEDULE M2, M3, M0, M1
    ROUNDS4 14, M2
    SCHEDULE M3, M0, M1, M2
    ROUNDS4 15, M3

    paddd FRAME_ABEF(%rsp), ABEF
    paddd FRAME_CDGH(%rsp), CDGH
    addq $64, %rsi
    decq %rdx
    jnz 1b

    /* Back to h[0..7] = a..h. */
    pshufd $0x1b, ABEF, ABEF            /* {a, b, e, f} */
    pshufd $0xb1, CDGH, CDGH            /* {g, h, c, d} */
    movdqa ABEF, TMP
    pblendw $0xf0, CDGH, ABEF           /* {a, b, c, d} */
    palignr $8, TMP, CDGH               /* {e, f, g, h} */
    movdqu ABEF, 0(%rdi)
    movdqu CDGH, 16(%rdi)

    movdqa FRAME_XMM + 0 * 16(%rsp), %xmm0
    movdqa FRAME_XMM + 1 * 16(%rsp), %xmm1
    movdqa FRAME_XMM + 2 * 16(%rsp), %xmm2
    movdqa FRAME_XMM + 3 * 16(%rsp), %xmm3
    movdqa FRAME_XMM + 4 * 16(%rsp), %xmm4
    movdqa FRAME_XMM + 5 * 16(%rsp), %xmm5
    movdqa FRAME_XMM + 6 * 16(%rsp), %xmm6
    movdqa FRAME_XMM + 7 * 16(%rsp), %xmm7
    movq %rbp, %rsp
    popq %rbp
    ret
