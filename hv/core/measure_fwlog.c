// SPDX-License-Identifier: MIT
// The firmware's TPM event log: SeaBIOS (like UEFI) measures itself into PCRs 0-7 and leaves its
// log where ACPI's TPM2 table says (LASA, LAML: the log area's address and size). The architecture
// finds the table (arch_firmware_table: on x86 the same checked walk that finds the CPUs); we walk
// the log to learn how much of the area is used, and keep only its address and length: the area
// is reserved memory, nobody reuses it. The agent reads it through measure_op and returns it to
// the verifier with moat's own log.
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/measure.h>
#include <moat/selftest.h>

#define FWLOG_MAX (1u << 20)

static bool mapped(paddr_t pa, size_t len)
{
    /* Only what the direct map covers (all RAM, 2 MiB pages), checked page by page. */
    for (paddr_t p = ALIGN_DOWN(pa, 2ULL << 20); p < pa + len; p += 2ULL << 20)
        if (!paging_lookup(DIRECTMAP_BASE + p, NULL))
            return false;
    return pa + len >= pa;
}

static uint32_t le32(const uint8_t *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }
static uint64_t le64(const uint8_t *p) { return le32(p) | ((uint64_t)le32(p + 4) << 32); }

/*
 * How much of the log area holds events: the Spec ID header (a TPM 1.2-style event) names the
 * banks and their digest sizes; then TCG_PCR_EVENT2 records until one that cannot be an event
 * (no digests, or running past the area).
 */
static size_t used_length(const uint8_t *log, size_t area)
{
    if (area < 32 + 4)
        return 0;
    uint32_t hdr_size = le32(log + 28);
    size_t off = 32 + (size_t)hdr_size;
    /* TCG_EfiSpecIDEvent: signature[16] platformClass u32 minor u8 major u8 errata u8 uintnSize u8
     * numberOfAlgorithms u32 then {u16 alg, u16 size} each. */
    if (off > area || hdr_size < 24 + 4 || memcmp(log + 32, "Spec ID Event03", 16))
        return 0;
    uint32_t nalg = le32(log + 32 + 24);
    if (nalg == 0 || nalg > 8 || 28 + 4 * (size_t)nalg > hdr_size)
        return 0;
    uint16_t algs[8], sizes[8];
    for (uint32_t i = 0; i < nalg; i++) {
        algs[i] = (uint16_t)(log[32 + 28 + 4 * i] | (log[32 + 29 + 4 * i] << 8));
        sizes[i] = (uint16_t)(log[32 + 30 + 4 * i] | (log[32 + 31 + 4 * i] << 8));
    }
    for (;;) {
        size_t start = off;
        if (off + 12 > area)
            return start;
        uint32_t count = le32(log + off + 8);
        if (count == 0 || count > nalg)
            return start;
        off += 12;
        for (uint32_t k = 0; k < count; k++) {
            if (off + 2 > area)
                return start;
            uint16_t alg = (uint16_t)(log[off] | (log[off + 1] << 8));
            size_t dsize = 0;
            for (uint32_t i = 0; i < nalg; i++)
                if (algs[i] == alg)
                    dsize = sizes[i];
            if (!dsize)
                return start;
            off += 2 + dsize;
        }
        if (off + 4 > area)
            return start;
        uint32_t esize = le32(log + off);
        off += 4;
        if (esize > area - off)
            return start;
        off += esize;
    }
}

#ifdef CONFIG_SELFTEST
size_t selftest_fwlog_used_length(const uint8_t *log, size_t area) { return used_length(log, area); }
#endif

bool fwlog_find(paddr_t *pa, size_t *len)
{
    uint32_t tlen;
    const uint8_t *t = arch_firmware_table("TPM2", &tlen);
    /* TPM2 table revision 4+: LAML (u32) at 64 and LASA (u64) at 68, when the table is that long. */
    if (!t || tlen < 76)
        return false;
    uint32_t laml = le32(t + 64);
    uint64_t lasa = le64(t + 68);
    if (!lasa || !laml || laml > FWLOG_MAX || !mapped(lasa, laml))
        return false;
    *pa = lasa;
    *len = used_length(phys_to_virt(lasa), laml);
    return *len > 0;
}
