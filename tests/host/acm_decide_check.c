// SPDX-License-Identifier: MIT
// Host driver of the hypervisor's MAC decisions (hv/xsm/acm_decide.c): for a policy blob, prints
// for every pair of VM label rows (a, b) whether they may share (STE) and whether b may start
// while a runs (Chinese Wall), as lines `<a> <b> <share 0|1> <start 0|1>`. The tests compare
// this with the Python model of the same rules (tests/policy/test_decisions.py). The count
// arrays have one word more than the policy's types, a canary: the decisions must neither read
// nor write past the policy's types (a conflict found there would bar a type no label holds).
// Last, rows past the policy's tables must decide nothing (rows_past_the_tables).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsm/acm_decide.h"

#define CANARY 0x5a5a5a5au

static bool canaries_intact(const uint32_t *running, const uint32_t *aggregate, uint32_t types, uint32_t row)
{
    if (running[types] == CANARY && aggregate[types] == CANARY)
        return true;
    fprintf(stderr, "row %u: a count past the policy's %u types written\n", row, types);
    return false;
}

/*
 * Rows past the policy's tables (an ssidref is a number a guest may choose): no sharing with any
 * row, no conflict even when every type is barred, no count changed. 0, or 7 with a message.
 */
static int rows_past_the_tables(const struct acm_policy_view *v, uint32_t *running, uint32_t *aggregate)
{
    const uint32_t ste_past = v->ste_ssidrefs, chwall_past = v->chwall_ssidrefs;
    for (uint32_t a = 0; a <= ste_past; a++)
        if (acm_ste_share(v, ACM_SSIDREF(0, a), ACM_SSIDREF(0, ste_past)) ||
            acm_ste_share(v, ACM_SSIDREF(0, ste_past), ACM_SSIDREF(0, a))) {
            fprintf(stderr, "STE row %u shares with row %u, past the last\n", a, ste_past);
            return 7;
        }
    for (uint32_t t = 0; t < v->chwall_types; t++)
        aggregate[t] = 1;
    long conflict = acm_chwall_conflict(v, aggregate, chwall_past);
    for (uint32_t t = 0; t < v->chwall_types; t++)
        aggregate[t] = 0;
    if (conflict >= 0) {
        fprintf(stderr, "Chinese Wall row %u, past the last, conflicts with type %ld\n", chwall_past, conflict);
        return 7;
    }
    acm_chwall_account(v, running, aggregate, chwall_past, +1);
    for (uint32_t t = 0; t <= v->chwall_types; t++)
        if (running[t] != (t < v->chwall_types ? 0 : CANARY) || aggregate[t] != running[t]) {
            fprintf(stderr, "a start of Chinese Wall row %u, past the last, counted type %u\n", chwall_past, t);
            return 7;
        }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s BLOB\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    static unsigned char blob[64 << 20];
    size_t n = fread(blob, 1, sizeof(blob), f);
    fclose(f);
    struct acm_policy_view v;
    struct acm_policy_error err;
    if (acm_policy_parse(blob, n, &v, &err) || !v.loadable) {
        printf("refused\n");
        return 1;
    }
    uint32_t *running = calloc(v.chwall_types + 1, sizeof(uint32_t));
    uint32_t *aggregate = calloc(v.chwall_types + 1, sizeof(uint32_t));
    if (!running || !aggregate)
        return 2;
    running[v.chwall_types] = aggregate[v.chwall_types] = CANARY;
    for (uint32_t a = 0; a < v.chwall_ssidrefs; a++) {
        for (uint32_t b = 0; b < v.chwall_ssidrefs; b++) {
            uint32_t sa = ACM_SSIDREF(a, a), sb = ACM_SSIDREF(b, b);
            acm_chwall_account(&v, running, aggregate, a, +1);
            if (!canaries_intact(running, aggregate, v.chwall_types, a))
                return 6;
            for (uint32_t t = 0; t < v.chwall_types; t++)
                if (running[t] != (acm_chwall_has_type(&v, a, t) ? 1u : 0u)) {
                    fprintf(stderr, "type %u of row %u counts %u running after one start\n", t, a, running[t]);
                    return 4;
                }
            long conflict = acm_chwall_conflict(&v, aggregate, b);
            if (conflict >= (long)v.chwall_types) {
                fprintf(stderr, "row %u conflicts with type %ld of a policy of %u types\n", b, conflict, v.chwall_types);
                return 5;
            }
            int start = conflict < 0;
            acm_chwall_account(&v, running, aggregate, a, -1);
            if (!canaries_intact(running, aggregate, v.chwall_types, a))
                return 6;
            for (uint32_t t = 0; t < v.chwall_types; t++)
                if (running[t] || aggregate[t]) {
                    fprintf(stderr, "counts not back to zero after a start and a stop\n");
                    return 3;
                }
            printf("%u %u %d %d\n", a, b, acm_ste_share(&v, sa, sb), start);
        }
    }
    return rows_past_the_tables(&v, running, aggregate);
}
