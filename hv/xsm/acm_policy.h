/* SPDX-License-Identifier: MIT */
/*
 * Parser and validator of ACM binary policies (public/xsm/acm.h, docs/policy-format.md).
 *
 * Freestanding: no allocation, no libc. acm_policy_parse() checks every byte of a blob in place
 * and fills a caller-provided view whose pointers point into the blob. It accepts exactly the
 * blobs tools/moat/policy/binary.py's decode() accepts and, on rejection, reports the same
 * (offset, field) pair. Builds for the hypervisor and for the host (tests/host, tests/fuzz).
 */
#ifndef MOAT_XSM_ACM_POLICY_H
#define MOAT_XSM_ACM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <public/xsm/acm.h>

/* Why a blob was refused: the first problem, by offset and field name. */
struct acm_policy_error {
    uint32_t offset;     /* byte offset in the blob */
    const char *field;   /* e.g. "len", "chwall.max_types", "ste.ssidrefs" */
    int32_t index[2];    /* array indices of the field, -1 if unused: ste.ssidrefs[3][1] */
    const char *message; /* short English reason */
};

/* A validated blob. Pointers point into the blob, which must outlive the view. */
struct acm_policy_view {
    const uint8_t *blob;
    uint32_t size;
    const char *name; /* NUL-terminated ASCII policy-reference name */
    uint32_t name_len;
    uint32_t primary_code, primary_offset;
    uint32_t secondary_code, secondary_offset;
    int32_t xml_major, xml_minor;
    const uint8_t *xml_hash; /* 20 bytes */

    uint32_t chwall_offset, chwall_size;
    uint32_t chwall_types, chwall_ssidrefs, chwall_sets;
    const uint8_t *chwall_ssid;     /* u16 BE [ssidrefs][types] */
    const uint8_t *chwall_conflict; /* u16 BE [sets][types] */

    uint32_t ste_offset, ste_size;
    uint32_t ste_types, ste_ssidrefs;
    const uint8_t *ste_ssid; /* u16 BE [ssidrefs][types] */

    bool has_ext;
    uint32_t ext_offset, ext_size, ext_sections, ext_rows, ext_words;
    const uint8_t *ext_flags;                  /* u32 BE [rows] */
    const uint8_t *ext_devices;                /* u32 BE [rows] (DEVICE_BIT masks), or NULL */
    const uint8_t *ext_quotas;                 /* u32 BE [rows][ACM_QUOTA_FIELDS], or NULL */
    const uint8_t *ext_sched;                  /* u32 BE [rows][ACM_SCHED_FIELDS], or NULL */
    const uint8_t *ext_targets[ACM_PERM_BITS]; /* per permission bit: u32 BE [rows][words], or NULL */

    /* Header codes CHWALL/STE and a bootstrap row in both matrices: the only blobs the
     * hypervisor loads. Xen 4.1's compiler writes STE/UNDEFINED or UNDEFINED/UNDEFINED
     * for policies without Chinese Wall types; those parse but are not loadable. */
    bool loadable;
};

/* Whether the blob starts as an ACM policy does (ACM_MAGIC, big-endian): how the boot finds the
 * policy among the modules. Says nothing of the rest: acm_policy_parse() checks that. */
bool acm_policy_looks_like(const void *blob, size_t size);

/* 0 and a filled view if the blob is valid; -1 and *err (if err is not NULL) otherwise. */
int acm_policy_parse(const void *blob, size_t size, struct acm_policy_view *view,
                     struct acm_policy_error *err);

/* A row's cells (u16 BE, the low byte 0 or 1, one per type), or NULL for a row out of range. The
 * row is bounded under speculation too (moat/nospec.h): rows are labels a guest names. */
const uint8_t *acm_chwall_row(const struct acm_policy_view *v, uint32_t row);
const uint8_t *acm_ste_row(const struct acm_policy_view *v, uint32_t row);
static inline bool acm_cell(const uint8_t *row, uint32_t type) { return row[2u * type + 1u] != 0; }

/* Cell accessors of a parsed view; out-of-range indices read as 0 / false. */
bool acm_chwall_has_type(const struct acm_policy_view *v, uint32_t row, uint32_t type);
bool acm_chwall_set_has_type(const struct acm_policy_view *v, uint32_t set, uint32_t type);
bool acm_ste_has_type(const struct acm_policy_view *v, uint32_t row, uint32_t type);
uint32_t acm_ext_flags(const struct acm_policy_view *v, uint32_t row);
/* The devices (DEVICE_BIT(n) of public/device.h) a domain labelled `row` may be assigned. */
uint32_t acm_ext_devices(const struct acm_policy_view *v, uint32_t row);
/* The label's limit of resource `field` (ACM_QUOTA_*), ACM_QUOTA_UNLIMITED when it has none. */
uint32_t acm_ext_quota(const struct acm_policy_view *v, uint32_t row, uint32_t field);
/* The label's default of field (ACM_SCHED_WEIGHT or _CAP), 0 when it has none. */
uint32_t acm_ext_sched(const struct acm_policy_view *v, uint32_t row, uint32_t field);
/* Is target_row in row's bitmap of targeted permission bit `bit` (0..ACM_PERM_BITS-1)? */
bool acm_ext_target(const struct acm_policy_view *v, uint32_t bit, uint32_t row, uint32_t target_row);
bool acm_ext_may_create(const struct acm_policy_view *v, uint32_t row, uint32_t target_row);
/* Does VM label `row` hold permission `perm` (one ACM_PERM_* bit) over domains of label
 * `target_row`; over domains of every label; over domains of at least one label? (For
 * POLICY_LOAD, which names no labels, all three ask whether the label holds it.) */
bool acm_ext_may(const struct acm_policy_view *v, uint32_t row, uint32_t perm, uint32_t target_row);
bool acm_ext_may_all(const struct acm_policy_view *v, uint32_t row, uint32_t perm);
bool acm_ext_may_any(const struct acm_policy_view *v, uint32_t row, uint32_t perm);

#endif /* MOAT_XSM_ACM_POLICY_H */
