/* SPDX-License-Identifier: MIT */
/*
 * Host driver of the hypervisor's ACM policy parser (hv/xsm/acm_policy.c).
 *
 *   acm_check BLOB...   for each blob, one line: the decoded blob as a JSON object, or
 *                       {"error": {"offset": N, "field": "..."}, "message": "..."}.
 *                       Exit 0 if every blob was accepted, 1 if one was refused, 2 on I/O errors.
 *   acm_check --query BLOB...
 *                       for each blob, one line: what every accessor of the view answers, for
 *                       every row, type and permission of the policy and one past each (the
 *                       bounds), as JSON (print_query); tests/policy/test_accessors.py computes
 *                       the same answers from the Python decoder's view.
 *   acm_check [--query] --frames
 *                       the blobs from standard input instead, each as a 4-byte big-endian
 *                       length and that many bytes, one line each as above, written out as soon
 *                       as it is made: the policy tests keep one acm_check running for all their
 *                       blobs (tests/policy/conftest.py's acm_frames), thousands without a file
 *                       or a process each.
 *
 * The JSON has the shape of Blob.to_json() in tools/moat/policy/binary.py, so the tests can
 * compare both decoders field by field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsm/acm_policy.h"

static void print_field(const struct acm_policy_error *e)
{
    printf("%s", e->field);
    for (int i = 0; i < 2; i++)
        if (e->index[i] >= 0)
            printf("[%d]", (int)e->index[i]);
}

static void print_rows(const uint8_t *m, uint32_t rows, uint32_t cols)
{
    putchar('[');
    for (uint32_t i = 0; i < rows; i++) {
        printf("%s\"", i ? "," : "");
        for (uint32_t j = 0; j < cols; j++)
            putchar(m[2u * ((size_t)i * cols + j) + 1] ? '1' : '0');
        putchar('"');
    }
    putchar(']');
}

static void print_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void print_view(const struct acm_policy_view *v)
{
    printf("{\"size\":%u,\"name\":", v->size);
    print_string(v->name);
    printf(",\"xml_version\":[%d,%d],\"xml_hash\":\"", (int)v->xml_major, (int)v->xml_minor);
    for (int i = 0; i < 20; i++)
        printf("%02x", v->xml_hash[i]);
    printf("\",\"primary\":%u,\"primary_offset\":%u,\"secondary\":%u,\"secondary_offset\":%u,",
           v->primary_code, v->primary_offset, v->secondary_code, v->secondary_offset);
    printf("\"loadable\":%s,", v->loadable ? "true" : "false");
    printf("\"chwall\":{\"offset\":%u,\"types\":%u,\"ssidrefs\":%u,\"conflict_sets\":%u,\"ssid\":",
           v->chwall_offset, v->chwall_types, v->chwall_ssidrefs, v->chwall_sets);
    print_rows(v->chwall_ssid, v->chwall_ssidrefs, v->chwall_types);
    printf(",\"conflict\":");
    print_rows(v->chwall_conflict, v->chwall_sets, v->chwall_types);
    printf("},\"ste\":{\"offset\":%u,\"types\":%u,\"ssidrefs\":%u,\"ssid\":", v->ste_offset,
           v->ste_types, v->ste_ssidrefs);
    print_rows(v->ste_ssid, v->ste_ssidrefs, v->ste_types);
    printf("},\"ext\":");
    if (!v->has_ext) {
        printf("null}\n");
        return;
    }
    printf("{\"offset\":%u,\"version\":%u,\"rows\":%u,\"sections\":%u,\"flags\":[", v->ext_offset,
           ACM_EXT_VERSION, v->ext_rows, v->ext_sections);
    for (uint32_t i = 0; i < v->ext_rows; i++)
        printf("%s%u", i ? "," : "", acm_ext_flags(v, i));
    printf("],\"devices\":[");
    for (uint32_t i = 0; i < v->ext_rows; i++)
        printf("%s%u", i ? "," : "", acm_ext_devices(v, i));
    printf("],\"quotas\":[");
    for (uint32_t i = 0; i < v->ext_rows; i++) {
        printf("%s[", i ? "," : "");
        for (uint32_t f = 0; f < ACM_QUOTA_FIELDS; f++)
            printf("%s%u", f ? "," : "", acm_ext_quota(v, i, f));
        putchar(']');
    }
    printf("],\"sched\":[");
    for (uint32_t i = 0; i < v->ext_rows; i++)
        printf("%s[%u,%u]", i ? "," : "", acm_ext_sched(v, i, ACM_SCHED_WEIGHT), acm_ext_sched(v, i, ACM_SCHED_CAP));
    printf("],\"targets\":{");
    static const char *const names[ACM_PERM_BITS] = {"create", "destroy", "pause", NULL, "read_state",
                                                     "foreign_evtchn", "foreign_gnttab"};
    int first_perm = 1;
    for (uint32_t b = 0; b < ACM_PERM_BITS; b++) {
        if (!names[b])
            continue;
        printf("%s\"%s\":[", first_perm ? "" : ",", names[b]);
        first_perm = 0;
        for (uint32_t i = 0; i < v->ext_rows; i++) {
            printf("%s[", i ? "," : "");
            int first = 1;
            for (uint32_t t = 0; t < v->ext_rows; t++)
                if (acm_ext_target(v, b, i, t)) {
                    printf("%s%u", first ? "" : ",", t);
                    first = 0;
                }
            putchar(']');
        }
        putchar(']');
    }
    printf("}}}\n");
}

/* Offsets into the blob (-1 for NULL) of matrix rows 0..rows (the last one past the end). */
static void print_row_offsets(const struct acm_policy_view *v, const uint8_t *(*row)(const struct acm_policy_view *, uint32_t),
                              uint32_t rows)
{
    putchar('[');
    for (uint32_t i = 0; i <= rows; i++) {
        const uint8_t *p = row(v, i);
        printf("%s%ld", i ? "," : "", p ? (long)(p - v->blob) : -1L);
    }
    printf("],");
}

/* Cells of rows 0..rows and types 0..types (the last of each past the end), a string per row. */
/* Every row's fields 0..fields (one past the last) of a per-row accessor, as a JSON array of arrays. */
static void print_row_fields(const struct acm_policy_view *v, uint32_t rows, uint32_t fields,
                             uint32_t (*get)(const struct acm_policy_view *, uint32_t, uint32_t))
{
    for (uint32_t i = 0; i <= rows; i++) {
        printf("%s[", i ? "," : "");
        for (uint32_t f = 0; f <= fields; f++)
            printf("%s%u", f ? "," : "", get(v, i, f));
        putchar(']');
    }
}

static void print_cells(const struct acm_policy_view *v, bool (*has)(const struct acm_policy_view *, uint32_t, uint32_t),
                        uint32_t rows, uint32_t types)
{
    putchar('[');
    for (uint32_t i = 0; i <= rows; i++) {
        printf("%s\"", i ? "," : "");
        for (uint32_t t = 0; t <= types; t++)
            putchar(has(v, i, t) ? '1' : '0');
        putchar('"');
    }
    /* Far out of range: nothing, and no read outside the tables. */
    printf(",\"%d%d\"],", has(v, UINT32_MAX, 0), has(v, 0, UINT32_MAX));
}

/* The rows 0..rows for which pred(row) holds. */
static void print_rows_where(const struct acm_policy_view *v, uint32_t perm,
                             bool (*pred)(const struct acm_policy_view *, uint32_t, uint32_t))
{
    putchar('[');
    int first = 1;
    for (uint32_t i = 0; i <= v->ext_rows; i++)
        if (pred(v, i, perm)) {
            printf("%s%u", first ? "" : ",", i);
            first = 0;
        }
    putchar(']');
}

/* For rows 0..rows, the targets 0..rows for which pred(row, target) holds. */
static void print_targets_where(const struct acm_policy_view *v, uint32_t a,
                                bool (*pred)(const struct acm_policy_view *, uint32_t, uint32_t, uint32_t), bool a_first)
{
    putchar('[');
    for (uint32_t i = 0; i <= v->ext_rows; i++) {
        printf("%s[", i ? "," : "");
        int first = 1;
        for (uint32_t t = 0; t <= v->ext_rows; t++)
            if (a_first ? pred(v, a, i, t) : pred(v, i, a, t)) {
                printf("%s%u", first ? "" : ",", t);
                first = 0;
            }
        putchar(']');
    }
    putchar(']');
}

static bool may_create(const struct acm_policy_view *v, uint32_t unused, uint32_t row, uint32_t target)
{
    (void)unused;
    return acm_ext_may_create(v, row, target);
}

/* The permissions asked of may, may_all and may_any: none, each bit, one past them, two at once, all,
 * and load_policy with a bit past them (not load_policy alone, and naming no labels). */
static const uint32_t query_perms[] = {0, 1, 2, 4, 8, 16, 32, 64, 128, 3, 0x7f, 0x88};

static void print_query(const struct acm_policy_view *v)
{
    const size_t nperms = sizeof(query_perms) / sizeof(query_perms[0]);
    uint32_t rows = v->ext_rows;

    printf("{\"name_len\":%u,\"chwall_row\":", v->name_len);
    print_row_offsets(v, acm_chwall_row, v->chwall_ssidrefs);
    printf("\"ste_row\":");
    print_row_offsets(v, acm_ste_row, v->ste_ssidrefs);
    printf("\"chwall_has\":");
    print_cells(v, acm_chwall_has_type, v->chwall_ssidrefs, v->chwall_types);
    printf("\"set_has\":");
    print_cells(v, acm_chwall_set_has_type, v->chwall_sets, v->chwall_types);
    printf("\"ste_has\":");
    print_cells(v, acm_ste_has_type, v->ste_ssidrefs, v->ste_types);
    /* Without an extension ext_rows is 0: row 0 is then past the end. */
    printf("\"flags\":[");
    for (uint32_t i = 0; i <= rows; i++)
        printf("%s%u", i ? "," : "", acm_ext_flags(v, i));
    printf("],\"devices\":[");
    for (uint32_t i = 0; i <= rows; i++)
        printf("%s%u", i ? "," : "", acm_ext_devices(v, i));
    printf("],\"quotas\":[");
    print_row_fields(v, rows, ACM_QUOTA_FIELDS, acm_ext_quota);
    printf("],\"sched\":[");
    print_row_fields(v, rows, ACM_SCHED_FIELDS, acm_ext_sched);
    printf("],\"target\":[");
    for (uint32_t b = 0; b <= ACM_PERM_BITS; b++) {
        if (b)
            putchar(',');
        print_targets_where(v, b, acm_ext_target, true);
    }
    printf("],\"may_create\":");
    print_targets_where(v, 0, may_create, true);
    printf(",\"may\":[");
    for (size_t p = 0; p < nperms; p++) {
        if (p)
            putchar(',');
        print_targets_where(v, query_perms[p], acm_ext_may, false);
    }
    printf("],\"may_all\":[");
    for (size_t p = 0; p < nperms; p++) {
        if (p)
            putchar(',');
        print_rows_where(v, query_perms[p], acm_ext_may_all);
    }
    printf("],\"may_any\":[");
    for (size_t p = 0; p < nperms; p++) {
        if (p)
            putchar(',');
        print_rows_where(v, query_perms[p], acm_ext_may_any);
    }
    printf("]}");
}

/* One refusal as JSON: the return value and the error record. */
static void print_refusal(const char *name, int rc, const struct acm_policy_error *e)
{
    printf("{\"case\":\"%s\",\"rc\":%d,\"offset\":%u,\"field\":\"%s\",\"message\":\"%s\"}\n", name, rc,
           e->offset, e->field ? e->field : "", e->message ? e->message : "");
}

/* The caller's mistakes the parser answers without touching what it was not given: no view to
 * fill (with and without a blob), no blob (of size 0: too short; of another size: "no blob"),
 * and no error record wanted. */
static int print_api(void)
{
    static const uint8_t magic[ACM_HEADER_SIZE] = {0x00, 0x01, 0xde, 0xbc};
    struct acm_policy_view v;
    struct acm_policy_error e;
    int rc;

    memset(&e, 0, sizeof(e));
    rc = acm_policy_parse(magic, sizeof(magic), NULL, &e);
    print_refusal("no view", rc, &e);
    memset(&e, 0, sizeof(e));
    rc = acm_policy_parse(NULL, 0, NULL, &e);
    print_refusal("no view, no blob", rc, &e);
    memset(&e, 0, sizeof(e));
    rc = acm_policy_parse(NULL, 0, &v, &e);
    print_refusal("no blob, size 0", rc, &e);
    for (size_t size = 1; size <= ACM_HEADER_SIZE + 4; size += ACM_HEADER_SIZE + 3) {
        memset(&e, 0, sizeof(e));
        rc = acm_policy_parse(NULL, size, &v, &e);
        print_refusal(size == 1 ? "no blob, size 1" : "no blob, size 64", rc, &e);
    }
    memset(&e, 0, sizeof(e));
    rc = acm_policy_parse(magic, sizeof(magic), &v, NULL);
    print_refusal("no error record", rc, &e);
    return 0;
}

static int query;

/* Parse the blob and print its line: buf is an allocation of exactly len bytes (none when len is
 * 0), so a sanitizer sees any read past them. Frees buf. */
static int check_blob(uint8_t *buf, size_t len)
{
    struct acm_policy_view v;
    struct acm_policy_error e;
    int rc = 0;

    if (query) {
        /* Whether the boot would take it for a policy: whole, and cut to its first 4 and 3 bytes. */
        printf("{\"looks_like\":[%d,%d,%d],", acm_policy_looks_like(buf, len), acm_policy_looks_like(buf, len < 4 ? len : 4),
               acm_policy_looks_like(buf, len < 3 ? len : 3));
        if (acm_policy_parse(buf, len, &v, NULL) != 0) {
            printf("\"refused\":true}\n");
            rc = 1;
        } else {
            printf("\"view\":");
            print_query(&v);
            putchar('}');
            putchar('\n');
        }
        free(buf);
        return rc;
    }
    if (acm_policy_parse(buf, len, &v, &e) != 0) {
        printf("{\"error\":{\"offset\":%u,\"field\":\"", e.offset);
        print_field(&e);
        printf("\"},\"message\":\"%s\"}\n", e.message);
        rc = 1;
    } else {
        print_view(&v);
    }
    free(buf);
    return rc;
}

static int check_file(const char *path)
{
    FILE *f;
    uint8_t *buf = NULL, *nbuf;
    size_t len = 0, cap = 0, n;
    int rc = 0;

    f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        perror(path);
        return 2;
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            nbuf = realloc(buf, cap);
            if (!nbuf) {
                perror("realloc");
                free(buf);
                return 2;
            }
            buf = nbuf;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (ferror(f))
        rc = 2;
    if (f != stdin)
        fclose(f);
    if (rc) {
        perror(path);
        free(buf);
        return rc;
    }
    /* Exactly the blob's bytes (none: no allocation), so a sanitizer sees any read past them. */
    nbuf = len ? malloc(len) : NULL;
    if (len && !nbuf) {
        perror("malloc");
        free(buf);
        return 2;
    }
    if (len)
        memcpy(nbuf, buf, len);
    free(buf);
    return check_blob(nbuf, len);
}

/* Every blob of standard input, each a 4-byte big-endian length and its bytes, read straight into
 * an allocation of exactly its size. */
static int check_frames(void)
{
    int rc = 0;
    uint8_t head[4];
    size_t n;

    while ((n = fread(head, 1, sizeof(head), stdin)) == sizeof(head)) {
        size_t len = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
        uint8_t *buf = len ? malloc(len) : NULL;
        if (len && !buf) {
            perror("malloc");
            return 2;
        }
        if (fread(buf, 1, len, stdin) != len) {
            fprintf(stderr, "acm_check: standard input ends inside a blob of %zu bytes\n", len);
            free(buf);
            return 2;
        }
        int r = check_blob(buf, len);
        if (r > rc)
            rc = r;
        fflush(stdout); /* a line per blob as it is parsed: the tests keep one acm_check running */
    }
    if (n != 0 || ferror(stdin)) {
        fprintf(stderr, "acm_check: standard input ends inside a frame's length\n");
        return 2;
    }
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;

    int first = 1;
    if (argc == 2 && strcmp(argv[1], "--api") == 0)
        return print_api();
    if (argc > 1 && strcmp(argv[1], "--query") == 0) {
        query = 1;
        first = 2;
    }
    if (argc == first + 1 && strcmp(argv[first], "--frames") == 0)
        return check_frames();
    if (argc <= first) {
        fprintf(stderr, "usage: %s [--query] BLOB... | %s [--query] --frames | %s --api\n", argv[0], argv[0],
                argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) {
        int r = check_file(argv[i]);
        if (r > rc)
            rc = r;
    }
    return rc;
}
