/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4) for freestanding code: one implementation (hv/lib/sha256.c) that the
 * hypervisor (measured launch) and the guest runtime library (the attestation agent) both
 * compile. Streaming: init, update any number of times, final. No heap, no tables to set up.
 */
#ifndef MOAT_LIB_SHA256_H
#define MOAT_LIB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

struct sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;                      /* message length so far */
    uint8_t block[SHA256_BLOCK_SIZE];    /* a partial block waiting for more input */
    uint32_t fill;                       /* bytes in block */
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t n);
void sha256_final(struct sha256_ctx *c, uint8_t digest[SHA256_DIGEST_SIZE]);
/* The digest of one buffer. */
void sha256(const void *data, size_t n, uint8_t digest[SHA256_DIGEST_SIZE]);

#ifdef SHA256_ARCH_BLOCKS
/*
 * The hypervisor's build (hv/SConscript defines SHA256_ARCH_BLOCKS) compresses with the CPU's
 * SHA instructions where it has them (hv/arch/x86_64/sha256_arch.c): sha256_arch_blocks
 * compresses n >= 1 whole blocks and answers true, or answers false and leaves h alone when the
 * machine has none, and the portable rounds do it. The guests and the host programs compile the
 * portable rounds only.
 */
#include <stdbool.h>
void sha256_arch_init(void);   /* the boot CPU, before the first hash */
bool sha256_arch_in_use(void);  /* the boot log's `cpu: sha256 sha-ni|portable` */
bool sha256_arch_cpu_ok(void); /* false on a CPU that lacks what the boot CPU chose to use */
bool sha256_arch_blocks(uint32_t h[8], const uint8_t *blocks, size_t n);
#endif

#endif
