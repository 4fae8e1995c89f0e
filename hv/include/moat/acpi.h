/* SPDX-License-Identifier: MIT */
/* The CPUs the firmware's ACPI tables list (arch/x86_64/acpi_tables.h has the details). */
#ifndef MOAT_ACPI_H
#define MOAT_ACPI_H

#include "../../arch/x86_64/acpi_tables.h"

/*
 * Reads the MADT through the direct map (mapping firmware memory beyond RAM on demand, read-only).
 * False, after one line saying which table is wrong and why, if the tables are missing or bad:
 * the boot CPU then runs alone.
 */
bool acpi_cpus_find(uint32_t boot_apic_id, struct acpi_cpus *out);

#endif
