/* SPDX-License-Identifier: MIT */
/*
 * Host driver of the hypervisor's ACPI table reader (hv/arch/x86_64/acpi_tables.c).
 *
 *   acpi_check BOOT_APIC_ID IMAGE...
 *   acpi_check table=SIG IMAGE...      (acpi_find_table: the table signed SIG, as hex)
 *
 * Each IMAGE is a sparse picture of physical memory: records of (u64 pa, u64 len, len bytes),
 * little-endian. Each region is copied into its own exactly-sized allocation, so a read past a
 * region's end is caught by AddressSanitizer when the driver is built with it. For each image,
 * one line of JSON: {"ok": true, ...what was found...} or {"ok": false, "table": ..., "pa": ...,
 * "what": ..., "value": N or null}. Exit 0 if every image was accepted, 1 if one was refused,
 * 2 on I/O errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <moat/acpi_tables.h>

struct region {
    uint64_t pa, len;
    uint8_t *bytes;
};

struct image {
    struct region *r;
    size_t n;
};

static const void *map(void *ctx, uint64_t pa, uint64_t len)
{
    const struct image *img = ctx;
    for (size_t i = 0; i < img->n; i++) {
        const struct region *r = &img->r[i];
        if (pa >= r->pa && pa - r->pa <= r->len && len <= r->len - (pa - r->pa))
            return r->bytes + (pa - r->pa);
    }
    return NULL;
}

static int read_u64(FILE *f, uint64_t *v)
{
    uint8_t b[8];
    if (fread(b, 1, 8, f) != 8)
        return 0;
    *v = 0;
    for (int i = 7; i >= 0; i--)
        *v = (*v << 8) | b[i];
    return 1;
}

static int load(const char *path, struct image *img)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint64_t pa, len;
    while (read_u64(f, &pa)) {
        if (!read_u64(f, &len) || len > (64u << 20))
            break;
        img->r = realloc(img->r, (img->n + 1) * sizeof(*img->r));
        uint8_t *bytes = malloc(len ? len : 1);
        if (!img->r || !bytes || fread(bytes, 1, len, f) != len) {
            fclose(f);
            return 0;
        }
        img->r[img->n++] = (struct region){pa, len, bytes};
    }
    fclose(f);
    return 1;
}

static void print_string(const char *s)
{
    putchar('"');
    for (; *s; s++)
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else
            putchar(*s);
    putchar('"');
}

static void print_error(const struct acpi_error *err)
{
    printf("{\"ok\": false, \"table\": ");
    print_string(err->table);
    printf(", \"pa\": %llu, \"what\": ", (unsigned long long)err->pa);
    print_string(err->what);
    if (err->has_value)
        printf(", \"value\": %llu}\n", (unsigned long long)err->value);
    else
        printf(", \"value\": null}\n");
}

/* One image's table signed sig: {"ok": true, "len": N, "hex": "..."} or the refusal. */
static int find_table(const struct acpi_memory *mem, const char *sig)
{
    uint32_t len = 0;
    struct acpi_error err;
    const uint8_t *t = acpi_find_table(mem, sig, &len, &err);
    if (!t) {
        print_error(&err);
        return 1;
    }
    printf("{\"ok\": true, \"len\": %u, \"hex\": \"", len);
    for (uint32_t i = 0; i < len; i++)
        printf("%02x", t[i]);
    printf("\"}\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: acpi_check BOOT_APIC_ID|table=SIG IMAGE...\n");
        return 2;
    }
    const char *sig = strncmp(argv[1], "table=", 6) ? NULL : argv[1] + 6;
    if (sig && strlen(sig) != 4) {
        fprintf(stderr, "acpi_check: a table signature has 4 characters: %s\n", sig);
        return 2;
    }
    uint32_t boot = sig ? 0 : (uint32_t)strtoul(argv[1], NULL, 0);
    int status = 0;
    for (int a = 2; a < argc; a++) {
        struct image img = {0};
        if (!load(argv[a], &img)) {
            fprintf(stderr, "acpi_check: cannot read %s\n", argv[a]);
            return 2;
        }
        struct acpi_memory mem = {map, &img};
        struct acpi_cpus out;
        struct acpi_error err;
        if (sig) {
            status |= find_table(&mem, sig);
        } else if (acpi_find_cpus(&mem, boot, &out, &err)) {
            printf("{\"ok\": true, \"rsdp\": %llu, \"revision\": %u, \"root\": %llu, \"xsdt\": %s, \"madt\": %llu, "
                   "\"lapic\": %llu, \"disabled\": %u, \"unreachable\": %u, \"over_limit\": %u, \"cpus\": [",
                   (unsigned long long)out.rsdp_pa, out.rsdp_revision, (unsigned long long)out.root_pa,
                   out.xsdt ? "true" : "false", (unsigned long long)out.madt_pa, (unsigned long long)out.lapic_pa,
                   out.disabled, out.unreachable, out.over_limit);
            for (unsigned i = 0; i < out.count; i++)
                printf("%s[%u, %u]", i ? ", " : "", out.cpu[i].apic_id, out.cpu[i].uid);
            printf("]}\n");
        } else {
            print_error(&err);
            status = 1;
        }
        for (size_t i = 0; i < img.n; i++)
            free(img.r[i].bytes);
        free(img.r);
    }
    return status;
}
