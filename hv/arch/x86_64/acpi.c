// SPDX-License-Identifier: MIT
// The hypervisor's side of reading the ACPI tables: physical memory through the direct map (the
// tables may lie beyond RAM, in firmware-reserved memory: those pages are mapped on demand,
// read-only and never executable), and the one line that says why the tables were refused.
#include <moat/acpi_tables.h>
#include <moat/arch.h>
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/paging.h>

_Static_assert(ACPI_MAX_CPUS == MOAT_MAX_CPUS, "one CPU limit");

#define ACPI_PHYS_LIMIT (1ULL << 39) /* the direct map's top-level slot */

static const void *map_direct(void *ctx, uint64_t pa, uint64_t len)
{
    (void)ctx;
    if (!len || len > ACPI_TABLE_MAX || pa >= ACPI_PHYS_LIMIT || ACPI_PHYS_LIMIT - pa < len)
        return NULL;
    for (paddr_t page = ALIGN_DOWN(pa, PAGE_SIZE); page < pa + len; page += PAGE_SIZE)
        if (!paging_lookup(DIRECTMAP_BASE + page, NULL) &&
            !paging_map_page(DIRECTMAP_BASE + page, page, cpu_features.nx ? PTE_NX : 0))
            return NULL;
    return phys_to_virt(pa);
}

#ifdef CONFIG_SELFTEST
/*
 * Test-only `acpi_tamper=<SIG>:<offset>:<xor>`: the table signed SIG reads with the byte at offset
 * XORed with xor (in a copy) and its checksum made right again, unless that byte is the checksum
 * itself (offset 9): a table wrong in one precise way, to see the refusal and the boot go on.
 */
static char tamper_sig[5];
static uint32_t tamper_offset, tamper_xor;
static uint8_t tamper_copy[PAGE_SIZE];

static unsigned parse_num(const char **p)
{
    unsigned n = 0;
    bool hex = (*p)[0] == '0' && (*p)[1] == 'x';
    if (hex)
        *p += 2;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            n = n * (hex ? 16 : 10) + (unsigned)(c - '0');
        else if (hex && c >= 'a' && c <= 'f')
            n = n * 16 + (unsigned)(c - 'a' + 10);
        else
            return n;
    }
}

static void tamper_read(void)
{
    char arg[32];
    if (!cmdline_get("acpi_tamper", arg, sizeof(arg)) || strlen(arg) < 8 || arg[4] != ':')
        return;
    const char *p = arg + 5;
    tamper_offset = parse_num(&p);
    if (*p++ != ':')
        return;
    tamper_xor = parse_num(&p) & 0xff;
    memcpy(tamper_sig, arg, 4);
    printk("selftest: acpi_tamper: %s byte %u ^= 0x%x\n", tamper_sig, tamper_offset, tamper_xor);
}

static const void *map_tampered(void *ctx, uint64_t pa, uint64_t len)
{
    const uint8_t *p = map_direct(ctx, pa, len);
    if (!p || !tamper_sig[0] || len < 36 || len > sizeof(tamper_copy) || memcmp(p, tamper_sig, 4))
        return p;
    memcpy(tamper_copy, p, len);
    if (tamper_offset < len)
        tamper_copy[tamper_offset] ^= (uint8_t)tamper_xor;
    /* The length as tampered: a table made one byte longer or shorter is summed at its new length. */
    uint32_t table_len = tamper_copy[4] | (tamper_copy[5] << 8) | (tamper_copy[6] << 16) | ((uint32_t)tamper_copy[7] << 24);
    if (tamper_offset != 9 && table_len <= len) {
        uint8_t sum = 0;
        tamper_copy[9] = 0;
        for (uint32_t i = 0; i < table_len; i++)
            sum = (uint8_t)(sum + tamper_copy[i]);
        tamper_copy[9] = (uint8_t)-sum;
    }
    return tamper_copy;
}
#endif

static struct acpi_memory direct_memory(void)
{
#ifdef CONFIG_SELFTEST
    return (struct acpi_memory){map_tampered, NULL};
#else
    return (struct acpi_memory){map_direct, NULL};
#endif
}

bool acpi_cpus_find(uint32_t boot_apic_id, struct acpi_cpus *out)
{
#ifdef CONFIG_SELFTEST
    tamper_read();
#endif
    struct acpi_memory mem = direct_memory();
    struct acpi_error err;
    if (acpi_find_cpus(&mem, boot_apic_id, out, &err))
        return true;
    char where[32] = "", value[24] = "";
    if (err.pa)
        snprintf(where, sizeof(where), " at 0x%lx", err.pa);
    if (err.has_value)
        snprintf(value, sizeof(value), " %lu", err.value);
    printk("acpi: %s%s %s%s; starting the boot CPU only\n", err.table, where, err.what, value);
    return false;
}

const uint8_t *arch_firmware_table(const char sig[4], uint32_t *len)
{
    /* Quiet when missing: most machines have no TPM2 table, and the caller says what it lacks. */
    struct acpi_memory mem = direct_memory();
    struct acpi_error err;
    return acpi_find_table(&mem, sig, len, &err);
}
