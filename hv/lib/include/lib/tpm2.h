/* SPDX-License-Identifier: MIT */
/*
 * TPM 2.0 command marshalling for freestanding code (TPM 2.0 Library, Part 2 structures and
 * Part 3 commands): a bounded writer that builds a command (big-endian, header size patched at
 * the end), a bounded reader for responses, and the three commands the hypervisor needs to
 * measure (Startup, PCR_Reset, PCR_Extend). The attestation agent builds its other commands from
 * the same primitives. One implementation (hv/lib/tpm2.c) for the hypervisor and the guests.
 */
#ifndef MOAT_LIB_TPM2_H
#define MOAT_LIB_TPM2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TPM2_ST_NO_SESSIONS 0x8001
#define TPM2_ST_SESSIONS 0x8002

#define TPM2_CC_NV_READ 0x0000014e
#define TPM2_CC_POLICY_SECRET 0x00000151
#define TPM2_CC_CREATE_PRIMARY 0x00000131
#define TPM2_CC_STARTUP 0x00000144
#define TPM2_CC_ACTIVATE_CREDENTIAL 0x00000147
#define TPM2_CC_QUOTE 0x00000158
#define TPM2_CC_FLUSH_CONTEXT 0x00000165
#define TPM2_CC_GET_CAPABILITY 0x0000017a
#define TPM2_CC_NV_READ_PUBLIC 0x00000169
#define TPM2_CC_START_AUTH_SESSION 0x00000176
#define TPM2_CC_PCR_READ 0x0000017e
#define TPM2_CC_PCR_EXTEND 0x00000182
#define TPM2_CC_PCR_RESET 0x0000013d

#define TPM2_RC_SUCCESS 0x000
#define TPM2_RC_INITIALIZE 0x100  /* the TPM has not been started (TPM2_Startup) */
#define TPM2_RC_LOCALITY 0x907    /* the command is not allowed from this locality */
#define TPM2_RC_YIELDED 0x908     /* warnings: the command was not started, send it again */
#define TPM2_RC_TESTING 0x90a
#define TPM2_RC_RETRY 0x922

#define TPM2_SU_CLEAR 0x0000
#define TPM2_RS_PW 0x40000009     /* the password session (empty password) */
#define TPM2_RH_OWNER 0x40000001
#define TPM2_RH_NULL 0x40000007
#define TPM2_RH_ENDORSEMENT 0x4000000b

#define TPM2_ALG_RSA 0x0001
#define TPM2_ALG_SHA256 0x000b
#define TPM2_ALG_AES 0x0006
#define TPM2_ALG_NULL 0x0010
#define TPM2_ALG_ECDSA 0x0018
#define TPM2_ALG_ECC 0x0023
#define TPM2_ALG_CFB 0x0043
#define TPM2_ECC_NIST_P256 0x0003

#define TPM2_SHA256_SIZE 32

/* A command being built in a caller's buffer. Overflow is sticky: check it once at the end. */
struct tpm2_cmd {
    uint8_t *buf;
    size_t cap, len;
    bool overflow;
};

void tpm2_begin(struct tpm2_cmd *c, uint8_t *buf, size_t cap, uint16_t tag, uint32_t code);
void tpm2_u8(struct tpm2_cmd *c, uint8_t v);
void tpm2_u16(struct tpm2_cmd *c, uint16_t v);
void tpm2_u32(struct tpm2_cmd *c, uint32_t v);
void tpm2_bytes(struct tpm2_cmd *c, const void *p, size_t n);
void tpm2_b(struct tpm2_cmd *c, const void *p, uint16_t n);  /* a TPM2B: u16 size, bytes */
/* An authorization area holding one password session per handle that needs authorization. */
void tpm2_pw_sessions(struct tpm2_cmd *c, unsigned count);
/* Patches the header's size; returns the command's length, or 0 if it did not fit. */
size_t tpm2_end(struct tpm2_cmd *c);

/* A response being read. Reading past the end sets bad (sticky) and yields zeros. */
struct tpm2_rsp {
    const uint8_t *buf;
    size_t len, off;
    bool bad;
};

/* Starts reading a response: its response code (or a nonzero pseudo-code if malformed). */
uint32_t tpm2_rsp_begin(struct tpm2_rsp *r, const uint8_t *buf, size_t len);
uint8_t tpm2_get_u8(struct tpm2_rsp *r);
uint16_t tpm2_get_u16(struct tpm2_rsp *r);
uint32_t tpm2_get_u32(struct tpm2_rsp *r);
/* A TPM2B in place: its size, and where its bytes are (NULL if bad). */
const uint8_t *tpm2_get_b(struct tpm2_rsp *r, uint16_t *size);
void tpm2_skip(struct tpm2_rsp *r, size_t n);
#define TPM2_RC_MALFORMED 0xffffffffu /* tpm2_rsp_begin: not a TPM2 response */

/* The commands the hypervisor's measuring needs. Each returns the command's length (0: no room). */
size_t tpm2_cmd_startup(uint8_t *buf, size_t cap, uint16_t type);
size_t tpm2_cmd_pcr_reset(uint8_t *buf, size_t cap, uint32_t pcr);
size_t tpm2_cmd_pcr_extend_sha256(uint8_t *buf, size_t cap, uint32_t pcr, const uint8_t digest[TPM2_SHA256_SIZE]);

#endif
