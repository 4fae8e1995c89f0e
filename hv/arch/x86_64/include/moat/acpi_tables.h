/* SPDX-License-Identifier: MIT */
/*
 * Reading the firmware's ACPI tables: the RSDP (in the EBDA or the BIOS area 0xe0000-0xfffff),
 * the RSDT or XSDT it points to, and a table listed there (the MADT, "APIC", for the CPUs; TPM2
 * for the firmware's event log), each checked (signature, length, checksum) before anything in it
 * is believed.
 *
 * Freestanding and pure: physical memory is read only through the caller's map function, so the
 * same code (arch/x86_64/acpi_tables.c) runs in the hypervisor (acpi.c) and on the host
 * (tests/host/acpi_check.c, which feeds it crafted tables).
 */
#ifndef MOAT_ACPI_TABLES_H
#define MOAT_ACPI_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 64           /* MOAT_MAX_CPUS */
#define ACPI_TABLE_MAX (1u << 20)  /* no table we read is longer than this */

struct acpi_memory {
    /* A pointer to len bytes at physical address pa, or NULL if they cannot be read. */
    const void *(*map)(void *ctx, uint64_t pa, uint64_t len);
    void *ctx;
};

struct acpi_cpu {
    uint32_t apic_id;
    uint32_t uid; /* the ACPI processor UID */
};

struct acpi_cpus {
    uint64_t rsdp_pa, root_pa, madt_pa;
    uint64_t lapic_pa;        /* the local APICs' physical address (the MADT's, or its override) */
    uint8_t rsdp_revision;
    bool xsdt;                /* the root table is the XSDT (64-bit entries), not the RSDT */
    unsigned count;           /* CPUs recorded; cpu[0] is the boot CPU, the others in MADT order */
    struct acpi_cpu cpu[ACPI_MAX_CPUS];
    unsigned disabled;        /* entries not enabled (absent, or a hot-plug slot) */
    unsigned unreachable;     /* enabled, but an APIC id xAPIC cannot address (above 254) */
    unsigned over_limit;      /* enabled, but beyond ACPI_MAX_CPUS */
};

/* Why the tables were refused: which table (at which address) and what is wrong with it. */
struct acpi_error {
    const char *table; /* "RSDP", "RSDT", "XSDT", "MADT" */
    uint64_t pa;       /* its physical address (0 if none was found) */
    const char *what;  /* a phrase: "checksum is wrong", "has an entry of length < 2 at offset" */
    bool has_value;
    uint64_t value;    /* the number that ends the phrase (an offset, a length, an id) */
};

/*
 * Reads the CPUs from the MADT. boot_apic_id is the calling CPU's, which must be listed (it
 * becomes cpu[0]). True with *out filled; false with *err saying what was wrong (out is then
 * incomplete and must not be used).
 */
bool acpi_find_cpus(const struct acpi_memory *mem, uint32_t boot_apic_id, struct acpi_cpus *out,
                    struct acpi_error *err);

/*
 * The table signed sig (4 bytes, "TPM2" say) that the root table lists first, checked (signature,
 * length up to ACPI_TABLE_MAX, checksum): the whole table, *len its length. NULL with *err saying
 * what was wrong or missing.
 */
const uint8_t *acpi_find_table(const struct acpi_memory *mem, const char sig[4], uint32_t *len,
                               struct acpi_error *err);

/*
 * The hypervisor's use (arch/x86_64/acpi.c): reads the MADT through the direct map (mapping
 * firmware memory beyond RAM on demand, read-only). False, after one line saying which table is
 * wrong and why, if the tables are missing or bad: the boot CPU then runs alone.
 */
bool acpi_cpus_find(uint32_t boot_apic_id, struct acpi_cpus *out);

#endif
