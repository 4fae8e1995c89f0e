/* SPDX-License-Identifier: MIT */
/* Multiboot v1: the parts of the boot information we read. */
#ifndef MOAT_MULTIBOOT_H
#define MOAT_MULTIBOOT_H

#define MULTIBOOT_HEADER_MAGIC 0x1badb002
#define MULTIBOOT_LOADER_MAGIC 0x2badb002

#ifndef __ASSEMBLER__
#include <moat/types.h>

#define MBI_FLAG_MEM (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MODS (1u << 3)
#define MBI_FLAG_MMAP (1u << 6)

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
} packed;

struct multiboot_module {
    uint32_t mod_start, mod_end;
    uint32_t string;
    uint32_t reserved;
} packed;

struct multiboot_mmap_entry {
    uint32_t size; /* of the rest of the entry, not counting this field */
    uint64_t addr, len;
    uint32_t type;
} packed;

#define MMAP_AVAILABLE 1
#define MMAP_ACPI 3
#define MMAP_NVS 4
#define MMAP_BAD 5
#endif

#endif
