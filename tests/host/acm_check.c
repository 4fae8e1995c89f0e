/* SPDX-License-Identifier: MIT */
/*
 * Host driver of the hypervisor's ACM policy parser (hv/xsm/acm_policy.c).
 *
 *   acm_check BLOB...   for each blob, one line: the decoded blob as a JSON object, or
 *                       {"error": {"offset": N, "field": "..."}, "message": "..."}.
 *                       Exit 0 if every blob was accepted, 1 if one was refused, 2 on I/O errors.
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

static int check_file(const char *path)
{
    FILE *f;
    uint8_t *buf = NULL, *nbuf;
    size_t len = 0, cap = 0, n;
    struct acm_policy_view v;
    struct acm_policy_error e;
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

int main(int argc, char **argv)
{
    int rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s BLOB...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        int r = check_file(argv[i]);
        if (r > rc)
            rc = r;
    }
    return rc;
}
