// SPDX-License-Identifier: MIT
// The ACPI tables (moat/acpi_tables.h): RSDP -> RSDT/XSDT -> a table by its signature (the MADT for
// the CPUs, TPM2 for the firmware's event log), every table checked before it is read. Offsets and field names follow the ACPI specification (5.2.5 RSDP, 5.2.6
// system description table header, 5.2.12 MADT); all arithmetic is on 64-bit values bounded by
// ACPI_TABLE_MAX, so nothing wraps.
#include <moat/acpi_tables.h>

#define RSDP_V1_LEN 20
#define RSDP_V2_MIN_LEN 36
#define SDT_HEADER_LEN 36
#define MADT_ENTRIES_OFFSET 44
#define BDA_EBDA_SEGMENT 0x40e
#define EBDA_SEARCH_LEN 1024
#define BIOS_AREA_START 0xe0000
#define BIOS_AREA_END 0x100000

#define MADT_LOCAL_APIC 0
#define MADT_LAPIC_OVERRIDE 5
#define MADT_LOCAL_X2APIC 9
#define MADT_ENABLED 1u
#define XAPIC_MAX_ID 254 /* 255 is the broadcast address */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | ((uint32_t)rd16(p + 2) << 16); }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

static bool same_bytes(const uint8_t *p, const char *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (p[i] != (uint8_t)s[i])
            return false;
    return true;
}

static bool checksum_ok(const uint8_t *p, uint64_t n)
{
    uint8_t sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    return sum == 0;
}

static bool fail(struct acpi_error *err, const char *table, uint64_t pa, const char *what)
{
    *err = (struct acpi_error){table, pa, what, false, 0};
    return false;
}

static bool fail_at(struct acpi_error *err, const char *table, uint64_t pa, const char *what, uint64_t value)
{
    *err = (struct acpi_error){table, pa, what, true, value};
    return false;
}

static const uint8_t *map(const struct acpi_memory *mem, uint64_t pa, uint64_t len)
{
    if (pa + len < pa)
        return NULL;
    return mem->map(mem->ctx, pa, len);
}

/* The root table found from the RSDP: every table is found through its entries. */
struct acpi_root {
    uint64_t rsdp_pa, pa;
    const uint8_t *p;    /* the whole root table, checked */
    uint32_t len;
    unsigned entry_size; /* 8 in the XSDT, 4 in the RSDT */
    const char *sig;     /* "XSDT" or "RSDT" */
    uint8_t rsdp_revision;
    bool xsdt;
};

/*
 * Is there a valid RSDP at p (physical pa)? Checksums over 20 bytes and, from revision 2, over
 * its whole length. 1: yes (*out set); 0: no signature; < 0: a signature with a bad RSDP.
 */
static int rsdp_check(const struct acpi_memory *mem, const uint8_t *p, uint64_t pa, const uint8_t **out)
{
    uint64_t sig;
    __builtin_memcpy(&sig, p, 8); /* one load per candidate: the search is 8 K candidates long */
    if (sig != 0x2052545020445352ULL) /* "RSD PTR " */
        return 0;
    if (!checksum_ok(p, RSDP_V1_LEN))
        return -1;
    if (p[15] >= 2) {
        uint32_t len = rd32(p + 20);
        if (len < RSDP_V2_MIN_LEN || len > 4096)
            return -2;
        p = map(mem, pa, len);
        if (!p || !checksum_ok(p, len))
            return -3;
    }
    *out = p;
    return 1;
}

static bool find_rsdp(const struct acpi_memory *mem, uint64_t *pa_out, const uint8_t **out, struct acpi_error *err)
{
    uint64_t ranges[2][2] = {{0, 0}, {BIOS_AREA_START, BIOS_AREA_END}};
    const uint8_t *bda = map(mem, BDA_EBDA_SEGMENT, 2);
    if (bda) {
        uint64_t ebda = (uint64_t)rd16(bda) << 4;
        if (ebda >= 0x80000 && ebda < 0xa0000) /* a plausible EBDA, below the VGA hole */
            ranges[0][0] = ebda, ranges[0][1] = ebda + EBDA_SEARCH_LEN;
    }
    uint64_t bad_pa = 0;
    int bad = 0;
    for (unsigned r = 0; r < 2; r++) {
        uint64_t start = ranges[r][0], end = ranges[r][1];
        const uint8_t *area = end > start ? map(mem, start, end - start) : NULL;
        for (uint64_t off = 0; area && start + off + RSDP_V1_LEN <= end; off += 16) {
            int rc = rsdp_check(mem, area + off, start + off, out);
            if (rc == 1) {
                *pa_out = start + off;
                return true;
            }
            if (rc < 0 && !bad)
                bad = rc, bad_pa = start + off;
        }
    }
    if (bad == -1)
        return fail(err, "RSDP", bad_pa, "has a wrong checksum");
    if (bad == -2)
        return fail(err, "RSDP", bad_pa, "has an implausible length");
    if (bad == -3)
        return fail(err, "RSDP", bad_pa, "has a wrong extended checksum");
    return fail(err, "RSDP", 0, "is missing (the firmware provides no ACPI tables)");
}

/* Checks the table header at pa (signature, length, checksum); returns the whole table. */
static const uint8_t *sdt_check(const struct acpi_memory *mem, uint64_t pa, const char *sig, uint32_t *len_out,
                                struct acpi_error *err)
{
    const uint8_t *p = pa ? map(mem, pa, SDT_HEADER_LEN) : NULL;
    if (!p) {
        fail(err, sig, pa, "cannot be read");
        return NULL;
    }
    if (!same_bytes(p, sig, 4)) {
        fail(err, sig, pa, "has another signature");
        return NULL;
    }
    uint32_t len = rd32(p + 4);
    if (len < SDT_HEADER_LEN || len > ACPI_TABLE_MAX) {
        fail_at(err, sig, pa, "has an implausible length", len);
        return NULL;
    }
    p = map(mem, pa, len);
    if (!p) {
        fail_at(err, sig, pa, "cannot be read at length", len);
        return NULL;
    }
    if (!checksum_ok(p, len)) {
        fail(err, sig, pa, "has a wrong checksum");
        return NULL;
    }
    *len_out = len;
    return p;
}

/* The physical address of the root table's first entry signed sig, or 0. */
static uint64_t find_entry(const struct acpi_memory *mem, const struct acpi_root *root, const char *sig)
{
    for (uint32_t off = SDT_HEADER_LEN; off + root->entry_size <= root->len; off += root->entry_size) {
        uint64_t pa = root->entry_size == 8 ? rd64(root->p + off) : rd32(root->p + off);
        const uint8_t *h = pa ? map(mem, pa, 4) : NULL;
        if (h && same_bytes(h, sig, 4))
            return pa;
    }
    return 0;
}

static bool record_cpu(struct acpi_cpus *out, uint8_t *seen, uint32_t id, uint32_t uid, uint32_t flags,
                       uint32_t boot_apic_id, bool *boot_found, struct acpi_error *err)
{
    if (!(flags & MADT_ENABLED)) {
        out->disabled++;
        return true;
    }
    if (id > XAPIC_MAX_ID) {
        out->unreachable++;
        return true;
    }
    if (seen[id / 8] & (1u << (id % 8)))
        return fail_at(err, "MADT", out->madt_pa, "lists twice the APIC id", id);
    seen[id / 8] |= (uint8_t)(1u << (id % 8));
    if (id == boot_apic_id) {
        out->cpu[0] = (struct acpi_cpu){id, uid};
        *boot_found = true;
    } else if (out->count < ACPI_MAX_CPUS) {
        out->cpu[out->count++] = (struct acpi_cpu){id, uid};
    } else {
        out->over_limit++;
    }
    return true;
}

static bool parse_madt(const uint8_t *m, uint32_t len, uint32_t boot_apic_id, struct acpi_cpus *out,
                       struct acpi_error *err)
{
    if (len < MADT_ENTRIES_OFFSET)
        return fail_at(err, "MADT", out->madt_pa, "is too short for its fixed fields, length", len);
    out->lapic_pa = rd32(m + 36);
    uint8_t seen[32] = {0};
    bool boot_found = false;
    out->count = 1; /* slot 0 is kept for the boot CPU */
    for (uint32_t off = MADT_ENTRIES_OFFSET; off < len;) {
        if (len - off < 2)
            return fail_at(err, "MADT", out->madt_pa, "has an entry that runs past its end at offset", off);
        uint8_t type = m[off], elen = m[off + 1];
        if (elen < 2)
            return fail_at(err, "MADT", out->madt_pa, "has an entry of length < 2 at offset", off);
        if (elen > len - off)
            return fail_at(err, "MADT", out->madt_pa, "has an entry that runs past its end at offset", off);
        const uint8_t *e = m + off;
        bool ok = true;
        switch (type) {
        case MADT_LOCAL_APIC:
            if (elen != 8)
                return fail_at(err, "MADT", out->madt_pa, "has a local APIC entry not 8 bytes long at offset", off);
            ok = record_cpu(out, seen, e[3], e[2], rd32(e + 4), boot_apic_id, &boot_found, err);
            break;
        case MADT_LOCAL_X2APIC:
            if (elen != 16)
                return fail_at(err, "MADT", out->madt_pa, "has a local x2APIC entry not 16 bytes long at offset", off);
            ok = record_cpu(out, seen, rd32(e + 4), rd32(e + 12), rd32(e + 8), boot_apic_id, &boot_found, err);
            break;
        case MADT_LAPIC_OVERRIDE:
            if (elen != 12)
                return fail_at(err, "MADT", out->madt_pa, "has a local APIC address override not 12 bytes long at offset",
                            off);
            out->lapic_pa = rd64(e + 4);
            break;
        default:
            break; /* I/O APICs, interrupt overrides, NMI sources: not used */
        }
        if (!ok)
            return false;
        off += elen;
    }
    if (!boot_found)
        return fail_at(err, "MADT", out->madt_pa, "does not list the boot CPU, APIC id", boot_apic_id);
    return true;
}

/* The RSDP and the root table (RSDT or XSDT) it points to, both checked. */
static bool find_root(const struct acpi_memory *mem, struct acpi_root *root, struct acpi_error *err)
{
    const uint8_t *rsdp;
    if (!find_rsdp(mem, &root->rsdp_pa, &rsdp, err))
        return false;
    root->rsdp_revision = rsdp[15];
    uint64_t xsdt_pa = root->rsdp_revision >= 2 ? rd64(rsdp + 24) : 0;
    root->xsdt = xsdt_pa != 0;
    root->pa = root->xsdt ? xsdt_pa : rd32(rsdp + 16);
    root->sig = root->xsdt ? "XSDT" : "RSDT";
    root->entry_size = root->xsdt ? 8 : 4;
    root->p = sdt_check(mem, root->pa, root->sig, &root->len, err);
    if (!root->p)
        return false;
    if ((root->len - SDT_HEADER_LEN) % root->entry_size)
        return fail_at(err, root->sig, root->pa, "has a partial entry at its end, length", root->len);
    return true;
}

bool acpi_find_cpus(const struct acpi_memory *mem, uint32_t boot_apic_id, struct acpi_cpus *out,
                    struct acpi_error *err)
{
    *out = (struct acpi_cpus){0};
    struct acpi_root root;
    if (!find_root(mem, &root, err))
        return false;
    out->rsdp_pa = root.rsdp_pa;
    out->rsdp_revision = root.rsdp_revision;
    out->xsdt = root.xsdt;
    out->root_pa = root.pa;
    out->madt_pa = find_entry(mem, &root, "APIC");
    if (!out->madt_pa)
        return fail(err, root.sig, root.pa, "lists no MADT (APIC table)");
    uint32_t len;
    const uint8_t *madt = sdt_check(mem, out->madt_pa, "APIC", &len, err);
    if (!madt) {
        err->table = "MADT";
        return false;
    }
    return parse_madt(madt, len, boot_apic_id, out, err);
}

const uint8_t *acpi_find_table(const struct acpi_memory *mem, const char sig[4], uint32_t *len,
                               struct acpi_error *err)
{
    struct acpi_root root;
    if (!find_root(mem, &root, err))
        return NULL;
    uint64_t pa = find_entry(mem, &root, sig);
    if (!pa) {
        fail(err, root.sig, root.pa, "lists no such table");
        return NULL;
    }
    return sdt_check(mem, pa, sig, len, err);
}
