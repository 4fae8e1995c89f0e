/* SPDX-License-Identifier: MIT */
/*
 * Measured launch (public/measure.h has the PCR map and the log format): the hypervisor hashes
 * what it runs and extends it into the TPM, from locality 2, before it takes effect.
 * Without a TPM it says so once and still keeps the log (nothing is extended).
 */
#ifndef MOAT_MEASURE_H
#define MOAT_MEASURE_H

#include <moat/types.h>

struct domain;

/* First thing after the banner: the image as loaded, before anything writes its data section. */
void measure_hypervisor_image(void);
/* After paging and the timer: find the TPM, reset PCRs 20-22, log the image and command line. */
void measure_init(void);
/* The boot policy, and every policy loaded later (before it is installed). 0 or -XEN_E*. */
long measure_policy(const void *blob, size_t size, const char *name, int32_t major, int32_t minor, uint32_t mode);
long measure_manifest(const void *data, size_t size);
/* A domain about to run (built, not yet runnable): PCR 21 at boot, 22 at run time. */
long measure_domain(const struct domain *d, const struct domain *creator, const char *cmdline, const void *image,
                    size_t image_size);
long measure_relabel(const struct domain *d, uint32_t new_ssidref);
/* Boot measurements are complete: separators in PCRs 20 and 21, and the summary line. */
void measure_boot_done(void);
bool measure_tpm_present(void);

long do_measure_op(uint64_t cmd, uint64_t which, uint64_t offset, uint64_t buf, uint64_t size);

/* The firmware's event log (core/measure_fwlog.c), from ACPI's TPM2 table; false if none. */
bool fwlog_find(paddr_t *pa, size_t *len);

#endif
