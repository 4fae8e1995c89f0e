/* SPDX-License-Identifier: MIT */
/* What the boot loader handed us, copied into the hypervisor's own memory early. */
#ifndef MOAT_BOOT_INFO_H
#define MOAT_BOOT_INFO_H

#include <moat/config.h>
#include <moat/types.h>

struct mem_range {
    paddr_t start, end; /* [start, end) */
    uint32_t type;      /* multiboot type */
};

struct boot_module {
    paddr_t start, end;
    char cmdline[128];
};

#define MAX_MEM_RANGES 64

struct boot_info {
    char cmdline[CMDLINE_MAX];
    struct mem_range mem[MAX_MEM_RANGES];
    unsigned mem_count;
    struct boot_module modules[MAX_MODULES];
    unsigned module_count;
};

extern struct boot_info boot_info;
extern uint64_t boot_tsc_entry; /* rdtsc at the first instruction, saved by boot.S */

/* Reads the multiboot information; returns false (after saying why) if it is unusable. */
bool multiboot_parse(uint32_t magic, paddr_t mbi_pa);
/* Value of "key=" on the hypervisor command line, copied into buf; false if absent. */
bool cmdline_get(const char *key, char *buf, size_t size);
/* A command-line value that must be a whole decimal number: true, with *value, when word is
 * digits only (at least one) and at most max (max below UINT64_MAX / 10); false otherwise. */
bool cmdline_number(const char *word, uint64_t max, uint64_t *value);
void boot_print_info(void);

#endif
