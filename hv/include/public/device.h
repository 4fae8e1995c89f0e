/* SPDX-License-Identifier: MIT */
/*
 * Devices a domain can be given (device assignment under MAC). A scenario names them
 * (`devices = ["tpm", "com2"]`), the boot manifest and domctl create carry them as a bitmask,
 * and the domain's label must permit each one (the policy's device permissions). A device is
 * held by at most one domain at a time. docs/attestation.md describes the use.
 *
 *   tpm   the TPM's TIS registers of locality 0 (one 4 KiB MMIO page at physical 0xfed40000),
 *         mapped uncached at GUEST_TPM_VA. Localities 1-4 stay the hypervisor's.
 *   com2  the second serial port: I/O ports 0x2f8-0x2ff, opened in the TSS I/O permission bitmap
 *         while the domain runs (in/out from ring 3).
 *
 * Any other domain touching them faults (a page fault at GUEST_TPM_VA, a #GP on the ports): it is
 * killed like for any fault, and the hypervisor prints a `MAC deny hook=device` audit line first.
 */
#ifndef MOAT_PUBLIC_DEVICE_H
#define MOAT_PUBLIC_DEVICE_H

#include <stdint.h>

#define DEVICE_TPM 0
#define DEVICE_COM2 1
#define DEVICE_COUNT 2
#define DEVICE_BIT(dev) (1u << (dev))
#define DEVICE_ALL ((1u << DEVICE_COUNT) - 1)

/* Where an assigned device's MMIO page appears in the domain (below GUEST_RAM_VA). */
#define GUEST_DEVICE_VA 0x200000ULL
#define GUEST_DEVICE_WINDOW 0x100000ULL
#define GUEST_TPM_VA GUEST_DEVICE_VA

#define COM2_PORT 0x2f8
#define COM2_PORTS 8

#endif
