/* SPDX-License-Identifier: MIT */
/*
 * Measured launch: what the hypervisor measures into the TPM, how it logs it, and how a guest
 * reads the logs. docs/attestation.md explains the PCR map and the verifier; tools/moat/attest/
 * parses the same records.
 *
 * The hypervisor extends PCRs from TIS locality 2, which only it can reach (no guest is ever given
 * that register page). PCRs 20-22 can be reset and extended only from locality 2 (PCR 20 also
 * from localities 1 and 3, which nobody uses): the hypervisor resets them at boot, and a domain
 * holding the TPM (locality 0) cannot extend them at all. Its only power is to extend PCRs 0-15,
 * which breaks the firmware log's replay.
 *
 * The log is TCG's crypto-agile format (TCG PC Client Platform Firmware Profile): a
 * TCG_PCClientPCREvent header holding the Spec ID event (EV_NO_ACTION, "Spec ID Event03", one
 * bank: SHA-256), then TCG_PCR_EVENT2 records, little-endian:
 *     u32 pcr_index, u32 event_type, u32 digest_count (= 1), u16 alg (= 0x000b), u8 digest[32],
 *     u32 event_size, u8 event[event_size]
 * Every moat event is EV_EVENT_TAG: a TCG_PCClientTaggedEvent (u32 tag id, u32 size, data) whose
 * data is one of the records below, and its digest is the SHA-256 of the whole event field, so
 * the log cannot say anything about an object that the PCR does not also hold.
 */
#ifndef MOAT_PUBLIC_MEASURE_H
#define MOAT_PUBLIC_MEASURE_H

#include <stdint.h>

/* The PCR map. 0-7 belong to the firmware (its own log, from ACPI). */
#define MEASURE_PCR_HYPERVISOR 20  /* the hypervisor's image and command line */
#define MEASURE_PCR_BOOT 21        /* the boot manifest, the boot policy, every boot domain */
#define MEASURE_PCR_RUNTIME 22     /* policy loads, relabels, domains created at run time */
#define MEASURE_LOCALITY 2

/* TCG event types used here. */
#define EV_NO_ACTION 0x00000003
#define EV_SEPARATOR 0x00000004
#define EV_EVENT_TAG 0x00000006

/* Tag ids (TCG_PCClientTaggedEvent.taggedEventID) of moat's events: "MO" then a number. */
#define MEASURE_TAG_HYPERVISOR 0x4d4f0001  /* struct measure_image: the loaded hypervisor */
#define MEASURE_TAG_CMDLINE 0x4d4f0002     /* its command line after the first word (bytes, no NUL) */
#define MEASURE_TAG_MANIFEST 0x4d4f0003    /* struct measure_image: the boot manifest module */
#define MEASURE_TAG_POLICY 0x4d4f0004      /* struct measure_policy: the boot policy or a load */
#define MEASURE_TAG_DOMAIN 0x4d4f0005      /* struct measure_domain: a domain about to run */
#define MEASURE_TAG_RELABEL 0x4d4f0006     /* struct measure_relabel */

struct measure_image {
    uint8_t sha256[32];     /* of the bytes as loaded (the hypervisor: build/hv/moat.bin) */
    uint32_t size;
    char name[28];          /* "moat <version>" or "manifest", NUL-padded */
};

#define MEASURE_POLICY_BOOT 0    /* the boot module */
#define MEASURE_POLICY_REFUSE 1  /* setpolicy, refuse mode (Xen's) */
#define MEASURE_POLICY_REVOKE 2  /* setpolicy, revoke mode */

struct measure_policy {
    uint8_t sha256[32];     /* of the whole binary policy */
    uint32_t size;
    int32_t version_major;  /* from the policy header */
    int32_t version_minor;
    uint32_t mode;          /* MEASURE_POLICY_* */
    char name[64];          /* the policy's name, NUL-padded (truncated if longer) */
};

struct measure_domain {
    uint8_t image_sha256[32];  /* of the ELF image module */
    uint32_t image_size;
    uint32_t domid;
    uint32_t ssidref;          /* its label */
    uint32_t memory_kib;
    uint32_t devices;          /* DEVICE_* bits assigned to it */
    uint32_t flags;            /* MDOM_* */
    uint32_t creator;          /* the domain that created it; 0xffffffff: the boot manifest */
    char name[32];
    char cmdline[256];
};

struct measure_relabel {
    uint32_t domid;
    uint32_t old_ssidref;
    uint32_t new_ssidref;
    char name[32];
};

/*
 * measure_op(cmd, which, offset, buffer, size): read a log. Allowed only to the domain that holds
 * the TPM (DEVICE_TPM assigned to it, which its label must permit): the agent that answers the
 * verifier. The logs are not secret, but nobody else needs them.
 *   MEASUREOP_read_log: copies at most size bytes of log `which` from offset into buffer and
 *     returns how many (0 at the end); -EPERM without the TPM, -EINVAL for another log, -EFAULT.
 *   MEASUREOP_log_size: returns the log's current size in bytes.
 * The hypervisor's log only grows (run-time measurements are appended).
 */
#define __HYPERVISOR_measure_op 40
#define MEASUREOP_read_log 1
#define MEASUREOP_log_size 2
#define MEASURE_LOG_HYPERVISOR 0   /* moat's own log (PCRs 20-22) */
#define MEASURE_LOG_FIRMWARE 1     /* the firmware's log (PCRs 0-7), as ACPI's TPM2 table points to it */

#endif
