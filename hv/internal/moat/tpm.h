/* SPDX-License-Identifier: MIT */
/* The hypervisor's TPM access (core/tpm.c): locality 2 for PCR_Reset and PCR_Extend, locality 0 for the boot-time TPM2_Startup. */
#ifndef MOAT_TPM_H
#define MOAT_TPM_H

#include <moat/types.h>

bool tpm_init(void);
long tpm_pcr_reset(uint32_t pcr);
long tpm_pcr_extend(uint32_t pcr, const uint8_t digest[32]);

#endif
