/* SPDX-License-Identifier: MIT */
/*
 * The attestation agent (docs/attestation.md): a guest that holds the TPM (its TIS locality-0
 * page, mapped at GUEST_TPM_VA) and the second serial port, and answers the verifier's requests
 * in a line protocol on that port. It can ask the TPM for keys, credentials and quotes and read
 * the measurement logs; it cannot extend the hypervisor's PCRs (20-22 take extends from
 * locality 2 only), so whatever it says must agree with what the hypervisor measured.
 */
#ifndef ATTEST_AGENT_H
#define ATTEST_AGENT_H

#include <moat/guest.h>

/* The serial port (uart.c): polled 16550 at COM2, 115200 8N1. */
void uart_init(void);
void uart_write(const char *s, size_t n);
/* One byte if there is one (non-blocking): 0..255, or -1. */
int uart_read(void);

/* The TPM (tpm.c). Each returns 0 or a short reason. Buffers are the caller's. */
#define TPM_MAX_RESPONSE 4096
const char *tpm_open(void);
/* Flushes the keys this agent loaded (before it leaves). */
void tpm_close(void);
/* How many commands the hypervisor interrupted (seize) and we sent or redid. */
unsigned long tpm_seizes(void);
/* The RSA EK certificate from NV (TCG's index 0x01c00002), DER. */
const char *tpm_ek_cert(uint8_t *cert, size_t cap, size_t *len);
/* Creates (or recreates: primary keys are derived from the seed) the EK and the AK; public
 * areas as TPM2B_PUBLIC (with their size prefix). */
const char *tpm_create_ek(uint8_t *pub, size_t cap, size_t *len);
const char *tpm_create_ak(uint8_t *pub, size_t cap, size_t *len);
/* ActivateCredential with the AK as the activated object and the EK as the decryption key. */
const char *tpm_activate(const uint8_t *blob, size_t blob_len, const uint8_t *secret, size_t secret_len,
                         uint8_t *out, size_t cap, size_t *len);
/* A quote by the AK over the SHA-256 PCRs in mask (bit n: PCR n), with the verifier's nonce:
 * TPM2B_ATTEST (size-prefixed), TPMT_SIGNATURE, and the PCR values (32 bytes each, in order). */
const char *tpm_quote(const uint8_t *nonce, size_t nonce_len, uint32_t mask, uint8_t *attest, size_t *attest_len,
                      uint8_t *sig, size_t *sig_len, uint8_t *pcrs, size_t *pcrs_len);
/* PCR_Extend from locality 0 (the liar's test mode): the TPM's response code. */
uint32_t tpm_extend(uint32_t pcr, const uint8_t digest[32]);

/* measure_op: read the hypervisor's or the firmware's event log (public/measure.h). */
long measure_op(unsigned cmd, unsigned which, uint64_t offset, void *dst, size_t size);

/* Hooks where a lying agent (images/attest/attest_liar, test builds) changes what it says; the
 * agent itself (honest.c) does nothing in them. lie_quote may replace a quote and returns true if
 * it did; lie_log may serve log bytes itself (their count) or return -1 to read the real log. */
void lie_at_start(void);
bool lie_quote(uint8_t *attest, size_t *alen, uint8_t *sig, size_t *slen, uint8_t *pcrs, size_t *plen);
long lie_log(int which, uint64_t offset, uint8_t *dst, size_t size);

#endif
