/* SPDX-License-Identifier: MIT */
/*
 * ACM binary policy parser/validator. The rules and their order mirror decode() in
 * tools/moat/policy/binary.py exactly; docs/policy-format.md lists them. All size arithmetic is
 * done in uint64_t on values already bounded (types <= 4096, ssidrefs <= 65535, blob <= 64 MiB),
 * so no product or sum can wrap.
 */
#include "acm_policy.h"

#include <moat/nospec.h>

struct reader {
    const uint8_t *d;
    uint64_t size;
    struct acm_policy_error *err; /* never NULL: acm_policy_parse() gives a scratch record */
};

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

bool acm_policy_looks_like(const void *blob, size_t size)
{
    return size >= 4 && rd32(blob) == ACM_MAGIC;
}

static uint64_t roundup8(uint64_t n)
{
    return (n + 7u) & ~(uint64_t)7u;
}

/* Inlined into every refusal; the caller's "no record wanted" (err == NULL) is settled once, at
 * the entry, so no copy of it repeats a test of its own. */
static int fail2(struct reader *r, uint64_t off, const char *field, int32_t i0, int32_t i1,
                 const char *msg)
{
    r->err->offset = (uint32_t)off;
    r->err->field = field;
    r->err->index[0] = i0;
    r->err->index[1] = i1;
    r->err->message = msg;
    return -1;
}

static int fail(struct reader *r, uint64_t off, const char *field, const char *msg)
{
    return fail2(r, off, field, -1, -1, msg);
}

/* Callers only read words inside a range already checked by need(). */
static uint32_t u32(const struct reader *r, uint64_t off)
{
    return rd32(r->d + off);
}

static int expect(struct reader *r, uint64_t off, const char *field, uint64_t want)
{
    if ((uint64_t)u32(r, off) != want)
        return fail(r, off, field, "unexpected value");
    return 0;
}

static int bounded(struct reader *r, uint64_t off, const char *field, uint32_t limit, uint32_t *out)
{
    uint32_t v = u32(r, off);
    if (v > limit)
        return fail(r, off, field, "exceeds the bound");
    *out = v;
    return 0;
}

static int need(struct reader *r, uint64_t off, uint64_t len, const char *field)
{
    if (off + len > r->size)
        return fail(r, off, field, "runs past the end of the blob");
    return 0;
}

static int zeros(struct reader *r, uint64_t start, uint64_t end, const char *field)
{
    for (uint64_t i = start; i < end; i++)
        if (r->d[i] != 0)
            return fail(r, i, field, "padding byte is not zero");
    return 0;
}

static int matrix(struct reader *r, uint64_t off, uint32_t rows, uint32_t cols, const char *field)
{
    const uint8_t *p = r->d + off;
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t j = 0; j < cols; j++, p += 2)
            if (p[0] != 0 || p[1] > 1)
                return fail2(r, (uint64_t)(p - r->d), field, (int32_t)i, (int32_t)j,
                             "cell must be 0 or 1");
    return 0;
}

static bool known_section(uint32_t type)
{
    if (type == ACM_EXT_SEC_PERMISSIONS || type == ACM_EXT_SEC_DEVICES || type == ACM_EXT_SEC_QUOTAS ||
        type == ACM_EXT_SEC_SCHED)
        return true;
    return type >= ACM_EXT_SEC_TARGETS(0) && type < ACM_EXT_SEC_TARGETS(ACM_PERM_BITS) &&
           ((ACM_PERM_TARGETED >> (type - ACM_EXT_SEC_TARGETS(0))) & 1u);
}

/* The header of a section that is a table of `fields` words per label row (QUOTAS, SCHED):
 * its length, its rows (the CHWALL ssidrefs, at most max_rows), its fields, and a length that
 * holds exactly the table. 0, or -1 with the refusal recorded. */
static int row_table_header(struct reader *r, uint64_t o, uint32_t i, uint32_t len, uint32_t rows,
                            uint32_t max_rows, uint32_t fields)
{
    uint64_t end = o + 16 + 4u * (uint64_t)rows * fields;
    if (len < 16u)
        return fail2(r, o + 4, "ext.section.len", (int32_t)i, -1, "shorter than its header");
    if (u32(r, o + 8) != rows)
        return fail2(r, o + 8, "ext.section.rows", (int32_t)i, -1, "differs from the CHWALL ssidrefs");
    if (rows > max_rows)
        return fail2(r, o + 8, "ext.section.rows", (int32_t)i, -1, "too many labels for quotas");
    if (u32(r, o + 12) != fields)
        return fail2(r, o + 12, "ext.section.fields", (int32_t)i, -1, "unexpected value");
    if (len != roundup8(end - o))
        return fail2(r, o + 4, "ext.section.len", (int32_t)i, -1, "does not match its rows");
    return 0;
}

/* The QUOTAS section: rows, fields, then a row of limits per label; it must limit something. */
static int parse_quotas(struct reader *r, uint64_t o, uint32_t i, uint32_t len, struct acm_policy_view *v)
{
    uint32_t rows = v->chwall_ssidrefs;
    uint64_t cells = o + 16, end = cells + 4u * (uint64_t)rows * ACM_QUOTA_FIELDS;
    bool any = false;

    if (row_table_header(r, o, i, len, rows, ACM_QUOTA_MAX_ROWS, ACM_QUOTA_FIELDS))
        return -1;
    for (uint64_t c = cells; c < end; c += 4)
        any |= u32(r, c) != ACM_QUOTA_UNLIMITED;
    if (zeros(r, end, o + len, "ext.padding"))
        return -1;
    if (!any)
        return fail2(r, o, "ext.section.type", (int32_t)i, -1, "a quotas section that limits nothing");
    v->ext_quotas = r->d + cells;
    return 0;
}

/* The SCHED section: rows, fields, then a label's default weight and cap per row, each 0 (none)
 * or in the scheduler's range; it must set something. */
static int parse_sched(struct reader *r, uint64_t o, uint32_t i, uint32_t len, struct acm_policy_view *v)
{
    uint32_t rows = v->chwall_ssidrefs;
    uint64_t cells = o + 16, end = cells + 4u * (uint64_t)rows * ACM_SCHED_FIELDS;
    bool any = false;

    if (row_table_header(r, o, i, len, rows, UINT32_MAX, ACM_SCHED_FIELDS))
        return -1;
    for (uint32_t row = 0; row < rows; row++) {
        uint64_t c = cells + 8u * row;
        if (u32(r, c) > ACM_SCHED_WEIGHT_MAX)
            return fail2(r, c, "ext.sched.weight", (int32_t)row, -1, "above 65535");
        if (u32(r, c + 4) > ACM_SCHED_CAP_MAX)
            return fail2(r, c + 4, "ext.sched.cap", (int32_t)row, -1, "above 100 percent");
        any |= u32(r, c) != 0 || u32(r, c + 4) != 0;
    }
    if (zeros(r, end, o + len, "ext.padding"))
        return -1;
    if (!any)
        return fail2(r, o, "ext.section.type", (int32_t)i, -1, "a sched section that sets nothing");
    v->ext_sched = r->d + cells;
    return 0;
}

/* One section's body: rows, then reserved (PERMISSIONS, DEVICES: one word per row) or words
 * (TARGETS: a bitmap of rows per row), then the cells. */
static int parse_section(struct reader *r, uint64_t o, uint32_t i, uint32_t type, uint32_t len,
                         struct acm_policy_view *v)
{
    uint32_t rows = v->chwall_ssidrefs, words = (rows + 31u) / 32u;
    bool devices = type == ACM_EXT_SEC_DEVICES;
    bool perms = type == ACM_EXT_SEC_PERMISSIONS || devices;
    uint64_t want = roundup8(16u + 4u * (uint64_t)rows * (perms ? 1u : words));

    if (len < 16u)
        return fail2(r, o + 4, "ext.section.len", (int32_t)i, -1, "shorter than its header");
    if (u32(r, o + 8) != rows)
        return fail2(r, o + 8, "ext.section.rows", (int32_t)i, -1, "differs from the CHWALL ssidrefs");
    if (perms ? u32(r, o + 12) != 0 : u32(r, o + 12) != words)
        return fail2(r, o + 12, perms ? "ext.section.reserved" : "ext.section.words", (int32_t)i, -1,
                     "unexpected value");
    if (len != want)
        return fail2(r, o + 4, "ext.section.len", (int32_t)i, -1, "does not match its rows");
    uint64_t cells = o + 16, end = cells + 4u * (uint64_t)rows * (perms ? 1u : words);
    bool any = false;
    for (uint32_t row = 0; row < rows; row++) {
        if (devices) {
            uint32_t d = u32(r, cells + 4u * row);
            if (d & ~DEVICE_ALL)
                return fail2(r, cells + 4u * row, "ext.devices", (int32_t)row, -1, "unknown device bits");
            any |= d != 0;
            continue;
        }
        if (perms) {
            if (u32(r, cells + 4u * row) & ~ACM_PERM_ALL)
                return fail2(r, cells + 4u * row, "ext.flags", (int32_t)row, -1, "unknown permission bits");
            continue;
        }
        uint64_t last = cells + 4u * ((uint64_t)row * words + words - 1);
        if ((rows % 32u) != 0 && (u32(r, last) >> (rows % 32u)) != 0)
            return fail2(r, last, "ext.targets", (int32_t)i, (int32_t)row, "bits beyond the last row");
    }
    if (zeros(r, end, o + len, "ext.padding"))
        return -1;
    if (devices && !any)
        return fail2(r, o, "ext.section.type", (int32_t)i, -1, "a devices section that gives no device");
    if (devices)
        v->ext_devices = r->d + cells;
    else if (perms)
        v->ext_flags = r->d + cells;
    else
        v->ext_targets[type - ACM_EXT_SEC_TARGETS(0)] = r->d + cells;
    return 0;
}

static bool row_has_targets(const struct acm_policy_view *v, uint32_t bit, uint32_t row)
{
    const uint8_t *t = v->ext_targets[bit];
    for (uint32_t w = 0; t && w < v->ext_words; w++)
        if (rd32(t + 4u * ((uint64_t)row * v->ext_words + w)))
            return true;
    return false;
}

static int parse_ext(struct reader *r, uint64_t e, struct acm_policy_view *v)
{
    uint32_t len, n, prev = 0;
    uint64_t o, end;
    int32_t sec_index[ACM_PERM_BITS];

    if (need(r, e, ACM_EXT_HEADER_SIZE, "ext.header"))
        return -1;
    if (expect(r, e, "ext.magic", ACM_EXT_MAGIC) || expect(r, e + 4, "ext.version", ACM_EXT_VERSION))
        return -1;
    len = u32(r, e + 8);
    if (len < ACM_EXT_HEADER_SIZE || len % 8u != 0 || e + len != r->size)
        return fail(r, e + 8, "ext.len", "is not the size of the extension");
    if (bounded(r, e + 12, "ext.sections", ACM_EXT_MAX_SECTIONS, &n))
        return -1;
    v->ext_rows = v->chwall_ssidrefs;
    v->ext_words = (v->ext_rows + 31u) / 32u;
    for (uint32_t b = 0; b < ACM_PERM_BITS; b++)
        sec_index[b] = -1;
    o = e + ACM_EXT_HEADER_SIZE;
    end = e + len;
    for (uint32_t i = 0; i < n; i++) {
        if (o + ACM_EXT_SECTION_HEADER_SIZE > end)
            return fail2(r, o, "ext.section.header", (int32_t)i, -1, "runs past the end of the extension");
        uint32_t type = u32(r, o), slen = u32(r, o + 4);
        if (!known_section(type))
            return fail2(r, o, "ext.section.type", (int32_t)i, -1, "unknown section type");
        if (type <= prev)
            return fail2(r, o, "ext.section.type", (int32_t)i, -1, "out of order or repeated");
        if (slen % 8u != 0 || o + slen > end)
            return fail2(r, o + 4, "ext.section.len", (int32_t)i, -1, "runs past the end of the extension");
        if (type == ACM_EXT_SEC_QUOTAS   ? parse_quotas(r, o, i, slen, v)
            : type == ACM_EXT_SEC_SCHED ? parse_sched(r, o, i, slen, v)
                                        : parse_section(r, o, i, type, slen, v))
            return -1;
        if (type >= ACM_EXT_SEC_TARGETS(0))
            sec_index[type - ACM_EXT_SEC_TARGETS(0)] = (int32_t)i;
        prev = type;
        o += slen;
    }
    if (o != end)
        return fail(r, e + 12, "ext.sections", "the sections do not fill the extension");
    if (!v->ext_flags)
        return fail(r, e + 12, "ext.sections", "no permissions section");
    /* One encoding per policy: a target section exactly for the permissions some row holds, and
     * a row's flag exactly when its bitmap names someone. */
    for (uint32_t b = 0; b < ACM_PERM_BITS; b++) {
        if (!((ACM_PERM_TARGETED >> b) & 1u))
            continue;
        bool any = false;
        for (uint32_t row = 0; row < v->ext_rows; row++) {
            bool has = row_has_targets(v, b, row);
            any |= has;
            if (has != ((acm_ext_flags(v, row) >> b) & 1u))
                return fail2(r, (uint64_t)(v->ext_flags - r->d) + 4u * row, "ext.flags", (int32_t)row, -1,
                             "disagrees with the permission's target section");
        }
        if (v->ext_targets[b] && !any)
            return fail2(r, (uint64_t)(v->ext_targets[b] - r->d) - 16u, "ext.section.type", sec_index[b], -1,
                         "a target section that names no one");
    }
    v->has_ext = true;
    v->ext_offset = (uint32_t)e;
    v->ext_size = len;
    v->ext_sections = n;
    return 0;
}

int acm_policy_parse(const void *blob, size_t size, struct acm_policy_view *v,
                     struct acm_policy_error *err)
{
    struct acm_policy_error unwanted;
    struct reader rr = { (const uint8_t *)blob, (uint64_t)size, err != NULL ? err : &unwanted };
    struct reader *r = &rr;
    uint32_t primary, nlen, tc, rc, k, ts, rs;
    uint64_t pr_size, c, body, c_size, s, s_size, e;

    if (v == NULL || (blob == NULL && size != 0))
        return fail(r, 0, "header", "no blob");
    *v = (struct acm_policy_view){ 0 };
    if (size < ACM_HEADER_SIZE)
        return fail(r, 0, "header", "shorter than the 60-byte header");
    if (expect(r, 0, "magic", ACM_MAGIC) || expect(r, 4, "policy_version", ACM_POLICY_VERSION))
        return -1;
    if ((uint64_t)u32(r, 8) != r->size)
        return fail(r, 8, "len", "differs from the blob size");
    if (r->size > ACM_MAX_POLICY_SIZE)
        return fail(r, 8, "len", "exceeds the maximum policy size");
    if (expect(r, 12, "policy_reference_offset", ACM_HEADER_SIZE))
        return -1;
    primary = u32(r, 16);
    if (primary != ACM_CHINESE_WALL_POLICY && primary != ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY &&
        primary != ACM_POLICY_UNDEFINED)
        return fail(r, 16, "primary_policy_code", "unknown policy code");

    /* Policy reference. */
    if (need(r, 60, 4, "policy_reference.len"))
        return -1;
    nlen = u32(r, 60);
    if (nlen < 1 || nlen > ACM_MAX_POLICY_NAME + 1)
        return fail(r, 60, "policy_reference.len", "name length out of range");
    pr_size = roundup8(4u + (uint64_t)nlen);
    if (need(r, 60, pr_size, "policy_reference.len"))
        return -1;
    for (uint32_t i = 0; i + 1 < nlen; i++) {
        uint8_t b = r->d[64 + i];
        if (b == 0 || b >= 0x80)
            return fail(r, 64u + i, "policy_reference.name", "not a non-NUL ASCII character");
    }
    if (r->d[64 + nlen - 1] != 0)
        return fail(r, 64u + nlen - 1, "policy_reference.name", "name is not NUL-terminated");
    if (zeros(r, 64u + nlen, 60u + pr_size, "policy_reference.padding"))
        return -1;
    c = 60u + pr_size;
    if (expect(r, 20, "primary_buffer_offset", c))
        return -1;

    /* CHWALL section: always present, whatever the codes say. */
    if (need(r, c, ACM_CHWALL_HEADER_SIZE, "chwall.header"))
        return -1;
    if (expect(r, c, "chwall.policy_version", ACM_CHWALL_VERSION) ||
        expect(r, c + 4, "chwall.policy_code", ACM_CHINESE_WALL_POLICY) ||
        bounded(r, c + 8, "chwall.max_types", ACM_MAX_TYPES, &tc) ||
        bounded(r, c + 12, "chwall.max_ssidrefs", ACM_MAX_SSIDREFS, &rc) ||
        bounded(r, c + 16, "chwall.max_conflictsets", ACM_MAX_CONFLICT_SETS, &k) ||
        expect(r, c + 20, "chwall.ssid_offset", ACM_CHWALL_HEADER_SIZE) ||
        expect(r, c + 24, "chwall.conflict_sets_offset",
               ACM_CHWALL_HEADER_SIZE + 2u * (uint64_t)tc * rc) ||
        expect(r, c + 28, "chwall.running_types_offset", 0) ||
        expect(r, c + 32, "chwall.conflict_aggregate_offset", 0))
        return -1;
    body = ACM_CHWALL_HEADER_SIZE + 2u * (uint64_t)tc * rc + 2u * (uint64_t)tc * k;
    c_size = roundup8(body);
    if (need(r, c, c_size, "chwall"))
        return -1;
    if (matrix(r, c + ACM_CHWALL_HEADER_SIZE, rc, tc, "chwall.ssidrefs") ||
        matrix(r, c + ACM_CHWALL_HEADER_SIZE + 2u * (uint64_t)tc * rc, k, tc, "chwall.conflict_sets") ||
        zeros(r, c + body, c + c_size, "chwall.padding"))
        return -1;

    /* STE section. */
    s = c + c_size;
    if (need(r, s, ACM_STE_HEADER_SIZE, "ste.header"))
        return -1;
    if (expect(r, s, "ste.policy_version", ACM_STE_VERSION) ||
        expect(r, s + 4, "ste.policy_code", ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY) ||
        bounded(r, s + 8, "ste.max_types", ACM_MAX_TYPES, &ts) ||
        bounded(r, s + 12, "ste.max_ssidrefs", ACM_MAX_SSIDREFS, &rs))
        return -1;
    if (rs < rc)
        return fail(r, s + 12, "ste.max_ssidrefs", "fewer than the CHWALL ssidrefs");
    if (expect(r, s + 16, "ste.ssid_offset", ACM_STE_HEADER_SIZE))
        return -1;
    body = ACM_STE_HEADER_SIZE + 2u * (uint64_t)ts * rs;
    s_size = roundup8(body);
    if (need(r, s, s_size, "ste"))
        return -1;
    if (matrix(r, s + ACM_STE_HEADER_SIZE, rs, ts, "ste.ssidrefs") ||
        zeros(r, s + body, s + s_size, "ste.padding"))
        return -1;
    e = s + s_size;

    /* Policy codes: exactly the combinations Xen 4.1's compiler writes. */
    if (primary == ACM_CHINESE_WALL_POLICY) {
        if (tc == 0)
            return fail(r, 16, "primary_policy_code", "CHWALL without CHWALL types");
        if (expect(r, 24, "secondary_policy_code", ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY) ||
            expect(r, 28, "secondary_buffer_offset", s))
            return -1;
    } else if (primary == ACM_SIMPLE_TYPE_ENFORCEMENT_POLICY) {
        if (tc != 0 || ts == 0)
            return fail(r, 16, "primary_policy_code", "STE but the policy is not STE-only");
        if (expect(r, 24, "secondary_policy_code", ACM_POLICY_UNDEFINED) ||
            expect(r, 28, "secondary_buffer_offset", c + s_size))
            return -1;
    } else {
        if (tc != 0 || ts != 0)
            return fail(r, 16, "primary_policy_code", "UNDEFINED but the policy has types");
        if (expect(r, 24, "secondary_policy_code", ACM_POLICY_UNDEFINED) ||
            expect(r, 28, "secondary_buffer_offset", c))
            return -1;
    }

    v->blob = r->d;
    v->size = (uint32_t)r->size;
    v->name = (const char *)(r->d + 64);
    v->name_len = nlen - 1;
    v->primary_code = primary;
    v->primary_offset = (uint32_t)c;
    v->secondary_code = u32(r, 24);
    v->secondary_offset = u32(r, 28);
    v->xml_major = (int32_t)u32(r, 32);
    v->xml_minor = (int32_t)u32(r, 36);
    v->xml_hash = r->d + 40;
    v->chwall_offset = (uint32_t)c;
    v->chwall_size = (uint32_t)c_size;
    v->chwall_types = tc;
    v->chwall_ssidrefs = rc;
    v->chwall_sets = k;
    v->chwall_ssid = r->d + c + ACM_CHWALL_HEADER_SIZE;
    v->chwall_conflict = v->chwall_ssid + 2u * (uint64_t)tc * rc;
    v->ste_offset = (uint32_t)s;
    v->ste_size = (uint32_t)s_size;
    v->ste_types = ts;
    v->ste_ssidrefs = rs;
    v->ste_ssid = r->d + s + ACM_STE_HEADER_SIZE;
    if (e != r->size && parse_ext(r, e, v))
        return -1;
    v->loadable = primary == ACM_CHINESE_WALL_POLICY && rc >= 2 && rs >= 2;
    return 0;
}

static bool cell(const uint8_t *m, uint32_t rows, uint32_t cols, uint32_t i, uint32_t j)
{
    if (m == NULL || i >= rows || j >= cols)
        return false;
    /* Rows are labels a guest names (ssidref halves): bounded under speculation too. */
    i = (uint32_t)array_index_nospec(i, rows);
    return m[2u * ((uint64_t)i * cols + j) + 1] != 0;
}

static const uint8_t *row_of_matrix(const uint8_t *m, uint32_t rows, uint32_t cols, uint32_t i)
{
    if (m == NULL || i >= rows)
        return NULL;
    return m + 2u * (uint64_t)array_index_nospec(i, rows) * cols;
}

const uint8_t *acm_chwall_row(const struct acm_policy_view *v, uint32_t row)
{
    return row_of_matrix(v->chwall_ssid, v->chwall_ssidrefs, v->chwall_types, row);
}

const uint8_t *acm_ste_row(const struct acm_policy_view *v, uint32_t row)
{
    return row_of_matrix(v->ste_ssid, v->ste_ssidrefs, v->ste_types, row);
}

bool acm_chwall_has_type(const struct acm_policy_view *v, uint32_t row, uint32_t type)
{
    return cell(v->chwall_ssid, v->chwall_ssidrefs, v->chwall_types, row, type);
}

bool acm_chwall_set_has_type(const struct acm_policy_view *v, uint32_t set, uint32_t type)
{
    return cell(v->chwall_conflict, v->chwall_sets, v->chwall_types, set, type);
}

bool acm_ste_has_type(const struct acm_policy_view *v, uint32_t row, uint32_t type)
{
    return cell(v->ste_ssid, v->ste_ssidrefs, v->ste_types, row, type);
}

uint32_t acm_ext_flags(const struct acm_policy_view *v, uint32_t row)
{
    if (!v->ext_flags || row >= v->ext_rows)
        return 0;
    return rd32(v->ext_flags + 4u * array_index_nospec(row, v->ext_rows));
}

uint32_t acm_ext_devices(const struct acm_policy_view *v, uint32_t row)
{
    if (!v->ext_devices || row >= v->ext_rows)
        return 0;
    return rd32(v->ext_devices + 4u * array_index_nospec(row, v->ext_rows));
}

uint32_t acm_ext_quota(const struct acm_policy_view *v, uint32_t row, uint32_t field)
{
    if (!v->ext_quotas || row >= v->ext_rows || field >= ACM_QUOTA_FIELDS)
        return ACM_QUOTA_UNLIMITED;
    row = (uint32_t)array_index_nospec(row, v->ext_rows);
    return rd32(v->ext_quotas + 4u * ((uint64_t)row * ACM_QUOTA_FIELDS + field));
}

bool acm_ext_target(const struct acm_policy_view *v, uint32_t bit, uint32_t row, uint32_t target_row)
{
    if (bit >= ACM_PERM_BITS || !v->ext_targets[bit] || row >= v->ext_rows || target_row >= v->ext_rows)
        return false;
    row = (uint32_t)array_index_nospec(row, v->ext_rows);
    target_row = (uint32_t)array_index_nospec(target_row, v->ext_rows);
    return (rd32(v->ext_targets[bit] + 4u * ((uint64_t)row * v->ext_words + target_row / 32u)) >>
            (target_row % 32u)) & 1u;
}

bool acm_ext_may_create(const struct acm_policy_view *v, uint32_t row, uint32_t target_row)
{
    return acm_ext_target(v, 0, row, target_row);
}

static uint32_t bit_of(uint32_t perm)
{
    uint32_t b = 0;
    while (b < ACM_PERM_BITS && perm != (1u << b))
        b++;
    return b; /* ACM_PERM_BITS: not a single permission bit */
}

bool acm_ext_may(const struct acm_policy_view *v, uint32_t row, uint32_t perm, uint32_t target_row)
{
    if (!(perm & ACM_PERM_TARGETED))
        return perm == ACM_PERM_POLICY_LOAD && (acm_ext_flags(v, row) & perm) != 0;
    return acm_ext_target(v, bit_of(perm), row, target_row);
}

bool acm_ext_may_all(const struct acm_policy_view *v, uint32_t row, uint32_t perm)
{
    if (!(perm & ACM_PERM_TARGETED))
        return perm == ACM_PERM_POLICY_LOAD && (acm_ext_flags(v, row) & perm) != 0;
    uint32_t b = bit_of(perm);
    if (b >= ACM_PERM_BITS || !v->ext_targets[b] || row >= v->ext_rows)
        return false;
    row = (uint32_t)array_index_nospec(row, v->ext_rows);
    for (uint32_t w = 0; w < v->ext_words; w++) {
        uint32_t want = w + 1 < v->ext_words || v->ext_rows % 32u == 0 ? 0xffffffffu
                                                                         : (1u << (v->ext_rows % 32u)) - 1u;
        if (rd32(v->ext_targets[b] + 4u * ((uint64_t)row * v->ext_words + w)) != want)
            return false;
    }
    return true;
}

bool acm_ext_may_any(const struct acm_policy_view *v, uint32_t row, uint32_t perm)
{
    return perm != 0 && (acm_ext_flags(v, row) & perm) == perm;
}

uint32_t acm_ext_sched(const struct acm_policy_view *v, uint32_t row, uint32_t field)
{
    if (!v->ext_sched || row >= v->ext_rows || field >= ACM_SCHED_FIELDS)
        return 0;
    row = (uint32_t)array_index_nospec(row, v->ext_rows);
    return rd32(v->ext_sched + 4u * ((uint64_t)row * ACM_SCHED_FIELDS + field));
}
