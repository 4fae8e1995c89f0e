/* SPDX-License-Identifier: MIT */
/*
 * The ACM binary security policy (Xen 4.1's policy_version 4) and moat's extension of it.
 * docs/policy-format.md gives every byte; tools/moat/policy/binary.py writes and reads the same
 * layout, hv/xsm/acm_policy.c validates it.
 *
 * Every integer in a policy blob is BIG-ENDIAN: header and section words are 32-bit, matrix
 * cells 16-bit. The structures below describe the layout as stored (fields hold big-endian
 * values); parse with the byte-wise readers of acm_policy.c, never by casting a blob pointer.
 *
 * Layout: header (60 bytes) | policy reference | CHWALL section | STE section | [moat extension].
 * Sections are padded with zero bytes to a multiple of 8; the header is not, so every section
 * starts at an offset = 4 (mod 8). The physical order is always the one above, whatever the
 * header's policy codes say (Xen 4.1's compiler writes it so).
 */
#ifndef MOAT_PUBLIC_XSM_ACM_H
#define MOAT_PUBLIC_XSM_ACM_H

#include <stdint.h>

#include "../device.h"

#define ACM_MAGIC 0x0001debcu
#define ACM_POLICY_VERSION 4u
#define ACM_CHWALL_VERSION 1u
#define ACM_STE_VERSION 1u

/* Policy codes (header primary/secondary_policy_code, section policy_code). */
#define ACM_NULL_POLICY 0u
#define ACM_CHINESE_WALL_POLICY 1u
#define ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY 2u
#define ACM_POLICY_UNDEFINED 15u

/*
 * ssidref: low 16 bits = row in the primary (CHWALL) matrix, high 16 bits = row in the secondary
 * (STE) matrix. A VM label in row i has ssidref (i << 16) | i. Row 0 = unlabeled, row 1 = the
 * bootstrap (dom0) label.
 */
#define ACM_SSIDREF_PRIMARY(ssidref) ((uint32_t)(ssidref)&0xffffu)
#define ACM_SSIDREF_SECONDARY(ssidref) (((uint32_t)(ssidref) >> 16) & 0xffffu)
#define ACM_SSIDREF(primary_row, secondary_row) ((((uint32_t)(secondary_row)&0xffffu) << 16) | ((uint32_t)(primary_row)&0xffffu))
#define ACM_DEFAULT_SSIDREF 0x00000000u
#define ACM_BOOTSTRAP_SSIDREF 0x00010001u

/* Bounds moat enforces when it loads a policy (Xen 4.1 had none on the matrix sizes). */
#define ACM_MAX_TYPES 4096u          /* per section (CHWALL, STE) */
#define ACM_MAX_SSIDREFS 65535u      /* rows of a matrix: a row index is a 16-bit ssidref half */
#define ACM_MAX_CONFLICT_SETS 4096u
#define ACM_MAX_POLICY_NAME 1023u    /* bytes of the policy-reference name, without the NUL */
#define ACM_MAX_POLICY_SIZE (64u * 1024u * 1024u) /* the whole blob */

#define ACM_HEADER_SIZE 60u
#define ACM_CHWALL_HEADER_SIZE 36u
#define ACM_STE_HEADER_SIZE 20u

struct acm_policy_version {
    uint32_t major;
    uint32_t minor;
};

/* Offset 0, 60 bytes, not padded. */
struct acm_policy_buffer {
    uint32_t magic;                   /*  0: ACM_MAGIC */
    uint32_t policy_version;          /*  4: ACM_POLICY_VERSION */
    uint32_t len;                     /*  8: size of the whole blob */
    uint32_t policy_reference_offset; /* 12: 60 */
    uint32_t primary_policy_code;     /* 16 */
    uint32_t primary_buffer_offset;   /* 20: start of the CHWALL section */
    uint32_t secondary_policy_code;   /* 24 */
    uint32_t secondary_buffer_offset; /* 28 */
    struct acm_policy_version xml_pol_version; /* 32: from the XML <Version> (signed values) */
    uint8_t xml_policy_hash[20];      /* 40: SHA-1 of the canonical XML (or of the TOML file) */
};

/* At policy_reference_offset: u32 len (name bytes + 1), the name, NUL, zero padding to 8. */
struct acm_policy_reference_buffer {
    uint32_t len;
};

/* CHWALL section: this header, u16 ssidrefs[max_ssidrefs][max_types],
 * u16 conflict_sets[max_conflictsets][max_types]; cells are 0 or 1. */
struct acm_chwall_policy_buffer {
    uint32_t policy_version;            /* ACM_CHWALL_VERSION */
    uint32_t policy_code;               /* ACM_CHINESE_WALL_POLICY */
    uint32_t chwall_max_types;
    uint32_t chwall_max_ssidrefs;
    uint32_t chwall_max_conflictsets;
    uint32_t chwall_ssid_offset;        /* 36 */
    uint32_t chwall_conflict_sets_offset; /* 36 + 2 * types * ssidrefs */
    uint32_t chwall_running_types_offset; /* 0 in a loadable blob */
    uint32_t chwall_conflict_aggregate_offset; /* 0 in a loadable blob */
};

/* STE section: this header, u16 ssidrefs[max_ssidrefs][max_types]; cells 0 or 1. */
struct acm_ste_policy_buffer {
    uint32_t policy_version;  /* ACM_STE_VERSION */
    uint32_t policy_code;     /* ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY */
    uint32_t ste_max_types;
    uint32_t ste_max_ssidrefs;
    uint32_t ste_ssid_offset; /* 20 */
};

/*
 * moat extension, version 2: label permissions for privileged operations, as a list of typed
 * sections (docs/policy-format.md section 7). Present only when the policy source uses
 * permissions; it follows the STE section and runs to the end of the blob (header len counts
 * it). Xen's readers ignore it: they slice the last section up to len and only read the STE
 * words and matrix at its start.
 *
 *   header   magic, version, len (bytes from the header to the end of the blob), sections
 *   section  type, len (bytes of the section, its 8-byte header included), body; zero padding
 *            to a multiple of 8
 *
 * Sections come in increasing type order, each type at most once, and a loader refuses a type
 * it does not know: a policy is enforced whole or not at all. Later sections (device
 * permissions, resource quotas) get new types; the existing ones never change.
 */
#define ACM_EXT_MAGIC 0x4d4f4154u /* "MOAT" */
#define ACM_EXT_VERSION 2u
#define ACM_EXT_HEADER_SIZE 16u
#define ACM_EXT_SECTION_HEADER_SIZE 8u
#define ACM_EXT_MAX_SECTIONS 64u

struct acm_ext_buffer {
    uint32_t magic;    /* ACM_EXT_MAGIC */
    uint32_t version;  /* ACM_EXT_VERSION */
    uint32_t len;      /* bytes from here to the end of the blob, a multiple of 8 */
    uint32_t sections; /* how many sections follow, at most ACM_EXT_MAX_SECTIONS */
};

struct acm_ext_section {
    uint32_t type; /* ACM_EXT_SEC_* */
    uint32_t len;  /* bytes of the section, this header included, a multiple of 8 */
};

/* Permission bits: what a domain with a label may do. */
#define ACM_PERM_DOMAIN_CREATE (1u << 0)  /* create domains of the target labels */
#define ACM_PERM_DOMAIN_DESTROY (1u << 1) /* destroy domains of the target labels */
#define ACM_PERM_DOMAIN_PAUSE (1u << 2)   /* pause and unpause them */
#define ACM_PERM_POLICY_LOAD (1u << 3)    /* load a policy, relabel (no targets: system-wide) */
#define ACM_PERM_READ_STATE (1u << 4)     /* read their state, watch them die */
#define ACM_PERM_FOREIGN_EVTCHN (1u << 5) /* alloc_unbound in and reset their event channels */
#define ACM_PERM_FOREIGN_GNTTAB (1u << 6) /* set up their grant tables */
#define ACM_PERM_ALL 0x7fu
#define ACM_PERM_TARGETED (ACM_PERM_ALL & ~ACM_PERM_POLICY_LOAD) /* the ones that name labels */
#define ACM_PERM_BITS 7u

/* Section PERMISSIONS (required, the first): u32 rows (= chwall max_ssidrefs, one per VM label
 * row), u32 reserved (0), u32 flags[rows] (ACM_PERM_* bits). For a targeted permission, a row's
 * bit is set exactly when the row's bitmap in that permission's TARGETS section is not empty. */
#define ACM_EXT_SEC_PERMISSIONS 1u
/* Section DEVICES (optional, after PERMISSIONS): u32 rows (= chwall max_ssidrefs), u32 reserved
 * (0), u32 devices[rows]: bit n set iff a domain with that label may be assigned device n
 * (public/device.h: DEVICE_TPM 0, DEVICE_COM2 1; docs/attestation.md); bits outside DEVICE_ALL
 * must be 0. Present exactly when some row may be assigned a device. */
#define ACM_EXT_SEC_DEVICES 2u
/* Section QUOTAS (optional, after DEVICES): u32 rows (= chwall max_ssidrefs, at most
 * ACM_QUOTA_MAX_ROWS), u32 fields (= ACM_QUOTA_FIELDS), u32 limits[rows][fields]: per label, the
 * most its domains (and the domains they create) may hold of each resource, summed over them all
 * (docs/resource-control.md); ACM_QUOTA_UNLIMITED = no limit. Present exactly when some row has a
 * limit. */
#define ACM_EXT_SEC_QUOTAS 3u
#define ACM_QUOTA_MEMORY_KIB 0u   /* KiB of frames charged to them: RAM, page tables, bookkeeping */
#define ACM_QUOTA_DOMAINS 1u      /* domains alive at once */
#define ACM_QUOTA_PORTS 2u        /* event-channel ports in use */
#define ACM_QUOTA_GRANT_FRAMES 3u /* grant-table frames registered */
#define ACM_QUOTA_MAPTRACK 4u     /* grant mappings held (maptrack entries in use) */
#define ACM_QUOTA_FIELDS 5u
#define ACM_QUOTA_UNLIMITED 0xffffffffu
#define ACM_QUOTA_MAX_ROWS 1024u
/* Section SCHED (optional, after QUOTAS): u32 rows (= chwall max_ssidrefs), u32 fields
 * (= ACM_SCHED_FIELDS), u32 defaults[rows][fields]: per label, the weight (1 to 65535; 0: none,
 * the scheduler's 256) and cap (1 to 100 percent of a CPU; 0: none) a domain of that label gets
 * when it is created without one of its own (docs/resource-control.md). Present exactly when
 * some row has a default. */
#define ACM_EXT_SEC_SCHED 4u
#define ACM_SCHED_WEIGHT 0u
#define ACM_SCHED_CAP 1u
#define ACM_SCHED_FIELDS 2u
#define ACM_SCHED_WEIGHT_MAX 65535u
#define ACM_SCHED_CAP_MAX 100u
/* Section TARGETS of targeted permission bit b (type 16 + b): u32 rows, u32 words
 * (= (rows + 31) / 32), u32 bits[rows][words]: bit (t % 32) of word (t / 32) of row r is set
 * iff a domain labelled r holds the permission over domains of VM label t. Present exactly when
 * some row holds the permission; bits past row rows - 1 must be 0. */
#define ACM_EXT_SEC_TARGETS(bit) (16u + (bit))

/*
 * ---- PLACEHOLDER: policy management operations (acm_op / xsm_op). ----
 * Numbers follow Xen 4.1's public/xsm/acm_ops.h; the structures and the interface version are
 * defined with the MAC issue. Nothing implements these yet.
 */
#define ACMOP_setpolicy 1
#define ACMOP_getpolicy 2
#define ACMOP_dumpstats 3
#define ACMOP_getssid 4
#define ACMOP_getdecision 5
#define ACMOP_chgpolicy 6
#define ACMOP_relabeldoms 7

/* Error tuples a refused policy change returns (Xen's numbering). */
#define ACM_EVTCHN_SHARING_VIOLATION 0x100
#define ACM_GNTTAB_SHARING_VIOLATION 0x101
#define ACM_DOMAIN_LOOKUP 0x102
#define ACM_CHWALL_CONFLICT 0x103
#define ACM_SSIDREF_IN_USE 0x104
/* moat: a standing privilege the new policy no longer grants (a VIRQ_DOM_EXC binding without
 * read_state): parameter domid << 16 | virq. */
#define ACM_PRIVILEGE_VIOLATION 0x105
/* ---- end of placeholder ---- */

#endif /* MOAT_PUBLIC_XSM_ACM_H */
