// SPDX-License-Identifier: MIT
// part=stress: 10,000 map/unmap pairs (item 20, one vCPU) and maptrack exhaustion with recovery
// (item 15). The boot test checks the frame counts at stop against boot.
#include "client.h"

#define ROUNDS 10000
#define OVER (GNTTAB_MAPTRACK_MAX + 2)
#define REFS 9 /* 9 refs x 127 read-only pins > 1024 mappings */

static struct gnttab_map_grant_ref maps[OVER];
static struct gnttab_unmap_grant_ref unmaps[OVER];

static void ten_thousand(struct gnt_conn *c)
{
    uint64_t va = gnt_va();
    volatile uint32_t *p = (volatile uint32_t *)va;
    unsigned bad = 0;
    for (unsigned i = 0; i < ROUNDS; i++) {
        grant_handle_t h;
        bool ro = i % 3 == 0;
        int16_t st = gnttab_map(c->peer, GNT_DATA_REF + i % 4, va, ro, &h);
        if (st != GNTST_okay) {
            if (bad++ < 5)
                xtf_failure("Fail: round %u: map %s\n", i, gnttab_status_name(st));
            continue;
        }
        if (p[0] != GNT_PATTERN(i % 4) && bad++ < 5)
            xtf_failure("Fail: round %u: read %#x\n", i, p[0]);
        if (!ro)
            p[100] = i;
        st = gnttab_unmap(h, va);
        if (st != GNTST_okay && bad++ < 5)
            xtf_failure("Fail: round %u: unmap %s\n", i, gnttab_status_name(st));
    }
    for (unsigned r = 0; r < 4; r++)
        xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF + r, 0, 0), GTF_permit_access);
    unsigned last_rw = ROUNDS - 1; /* the last round that mapped ref +3 writable */
    while (last_rw % 4 != 3 || last_rw % 3 == 0)
        last_rw--;
    xtf_check_eq(gnt_call(c, GNT_CMD_READ, GNT_DATA_REF + 3, 100, 0), last_rw);
    gnttab_va_free(va);
    printf("%u map/unmap rounds done, %u failures\n", ROUNDS, bad);
}

static void exhaust_maptrack(struct gnt_conn *c)
{
    for (unsigned i = 0; i < OVER; i++)
        maps[i] = (struct gnttab_map_grant_ref){ .host_addr = gnt_va(), .flags = GNTMAP_host_map | GNTMAP_readonly,
                                                 .ref = GNT_DATA_REF + i % REFS, .dom = c->peer };
    xtf_check_eq(gnttab_map_batch(maps, OVER), 0);
    static uint8_t seen[GNTTAB_MAPTRACK_MAX];
    unsigned ok = 0;
    for (unsigned i = 0; i < GNTTAB_MAPTRACK_MAX; i++) {
        if (maps[i].status != GNTST_okay)
            continue;
        ok++;
        if (maps[i].handle < GNTTAB_MAPTRACK_MAX)
            xtf_check(!seen[maps[i].handle]++, "handle %u handed out twice", maps[i].handle);
        else
            xtf_failure("Fail: handle %u out of range\n", maps[i].handle);
    }
    /* The control page's mapping holds one slot. */
    xtf_check_eq(ok, GNTTAB_MAPTRACK_MAX - 1);
    for (unsigned i = GNTTAB_MAPTRACK_MAX - 1; i < OVER; i++)
        xtf_check(maps[i].status == GNTST_no_space, "map %u: %s, expected no_space", i,
                  gnttab_status_name(maps[i].status));
    xtf_check_eq(*(volatile uint32_t *)maps[1000].host_addr, GNT_PATTERN(1000 % REFS));
    /* Recovery: one unmap makes room for exactly one more. */
    xtf_check_eq(gnttab_unmap(maps[0].handle, maps[0].host_addr), GNTST_okay);
    grant_handle_t h;
    xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF, maps[0].host_addr, true, &h), GNTST_okay);
    xtf_check_eq(h, maps[0].handle); /* the freed slot is reused */
    xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF, maps[OVER - 1].host_addr, true, NULL), GNTST_no_space);
    maps[0].handle = h;
    unsigned n = 0;
    for (unsigned i = 0; i < GNTTAB_MAPTRACK_MAX - 1; i++)
        unmaps[n++] = (struct gnttab_unmap_grant_ref){ .host_addr = maps[i].host_addr, .handle = maps[i].handle };
    xtf_check_eq(gnttab_unmap_batch(unmaps, n), 0);
    unsigned unmapped = 0;
    for (unsigned i = 0; i < n; i++)
        unmapped += unmaps[i].status == GNTST_okay;
    xtf_check_eq(unmapped, n);
    for (unsigned r = 0; r < REFS; r++)
        xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF + r, 0, 0), GTF_permit_access);
    /* And the whole maptrack is usable again. */
    xtf_check_eq(gnttab_map_batch(maps, GNTTAB_MAPTRACK_MAX - 1), 0);
    n = 0;
    for (unsigned i = 0; i < GNTTAB_MAPTRACK_MAX - 1; i++) {
        xtf_check(maps[i].status == GNTST_okay, "remap %u: %s", i, gnttab_status_name(maps[i].status));
        unmaps[n++] = (struct gnttab_unmap_grant_ref){ .host_addr = maps[i].host_addr, .handle = maps[i].handle };
    }
    xtf_check_eq(gnttab_unmap_batch(unmaps, n), 0);
    for (unsigned i = 0; i < OVER; i++)
        gnttab_va_free(maps[i].host_addr);
    printf("maptrack exhaustion and recovery done\n");
}

void part_stress(struct gnt_conn *c)
{
    ten_thousand(c);
    exhaust_maptrack(c);
    xtf_check_eq(gnttab_unmap(c->ctl_handle, c->ctl_va), GNTST_okay);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
