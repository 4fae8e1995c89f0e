// SPDX-License-Identifier: MIT
// Host driver of the hypervisor's MAC decisions (hv/xsm/acm_decide.c): for a policy blob, prints
// for every pair of VM label rows (a, b) whether they may share (STE) and whether b may start
// while a runs (Chinese Wall), as lines `<a> <b> <share 0|1> <start 0|1>`. The tests compare
// this with the Python model of the same rules (tests/policy/test_decisions.py).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsm/acm_decide.h"

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
    for (uint32_t a = 0; a < v.chwall_ssidrefs; a++) {
        for (uint32_t b = 0; b < v.chwall_ssidrefs; b++) {
            uint32_t sa = ACM_SSIDREF(a, a), sb = ACM_SSIDREF(b, b);
            acm_chwall_account(&v, running, aggregate, a, +1);
            for (uint32_t t = 0; t < v.chwall_types; t++)
                if (running[t] != (acm_chwall_has_type(&v, a, t) ? 1u : 0u)) {
                    fprintf(stderr, "type %u of row %u counts %u running after one start\n", t, a, running[t]);
                    return 4;
                }
            int start = acm_chwall_conflict(&v, aggregate, b) < 0;
            acm_chwall_account(&v, running, aggregate, a, -1);
            for (uint32_t t = 0; t < v.chwall_types; t++)
                if (running[t] || aggregate[t]) {
                    fprintf(stderr, "counts not back to zero after a start and a stop\n");
                    return 3;
                }
            printf("%u %u %d %d\n", a, b, acm_ste_share(&v, sa, sb), start);
        }
    }
    return 0;
}
