/* SPDX-License-Identifier: MIT */
/*
 * The TPM Interface Specification (TIS, "FIFO" interface of the TCG PC Client Platform TPM
 * Profile) for freestanding code: probe, locality arbitration, and sending one command and
 * reading its response through the data FIFO. One implementation (hv/lib/tpm_tis.c) that the
 * hypervisor (locality 2, for PCR_Extend at boot and at run time) and the attestation agent
 * (locality 0, from ring 3 through its assigned MMIO page) both compile. No TPM command set here:
 * lib/tpm2.h marshals commands.
 */
#ifndef MOAT_LIB_TPM_TIS_H
#define MOAT_LIB_TPM_TIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Physical address of locality 0's register page; locality n is n pages above it. */
#define TIS_BASE 0xfed40000ULL
#define TIS_LOCALITY_SIZE 0x1000

/* Register offsets inside a locality's page. */
#define TIS_REG_ACCESS 0x000
#define TIS_REG_STS 0x018
#define TIS_REG_DATA_FIFO 0x024
#define TIS_REG_INTERFACE_ID 0x030
#define TIS_REG_DID_VID 0xf00

#define TIS_ACCESS_REQUEST_USE 0x02
#define TIS_ACCESS_PENDING_REQUEST 0x04
#define TIS_ACCESS_SEIZE 0x08
#define TIS_ACCESS_BEEN_SEIZED 0x10
#define TIS_ACCESS_ACTIVE_LOCALITY 0x20
#define TIS_ACCESS_VALID 0x80

#define TIS_STS_RESPONSE_RETRY 0x02
#define TIS_STS_EXPECT 0x08
#define TIS_STS_DATA_AVAIL 0x10
#define TIS_STS_GO 0x20
#define TIS_STS_COMMAND_READY 0x40
#define TIS_STS_VALID 0x80

/* Timeouts (TIS "timeout A/B", and a long one for commands that make keys). */
#define TIS_TIMEOUT_SHORT_US 750000ULL
#define TIS_TIMEOUT_LONG_US 2000000ULL
#define TIS_TIMEOUT_COMMAND_US 60000000ULL

enum tis_result {
    TIS_OK = 0,
    TIS_ABSENT,      /* nothing answers at this address */
    TIS_TIMEOUT,     /* the TPM did not reach the expected state in time */
    TIS_SEIZED,      /* a higher locality took the TPM away: request it again, resend */
    TIS_PROTOCOL,    /* the FIFO did not behave as the specification says */
    TIS_TOO_BIG,     /* the response does not fit the caller's buffer */
};

struct tis {
    volatile uint8_t *regs;     /* this locality's register page, mapped uncached */
    uint64_t (*now_us)(void);   /* a monotonic clock for the timeouts */
    void (*relax)(void);        /* called between polls (pause, or yield the CPU) */
};

/* Is a TIS TPM there (a vendor id that is not all ones)? */
bool tis_present(const struct tis *t);
/* Makes this locality the active one; with seize, takes it from a lower locality that holds it. */
enum tis_result tis_request_locality(const struct tis *t, bool seize);
void tis_release_locality(const struct tis *t);
/* Sends cmd (a whole TPM2 command) and reads the response into rsp (at most cap bytes). */
enum tis_result tis_transmit(const struct tis *t, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap,
                             size_t *rsp_len, uint64_t timeout_us);
const char *tis_result_name(enum tis_result r);

#endif
