// SPDX-License-Identifier: MIT
// part=revoke / revoke_fault: forced revocation (item 18) of 1, 10 and 100 mappings while we use
// them. We run labelled b_admin (may relabel) and revoke our own mappings by relabelling
// ourselves to `relabel_to=<ssidref>` (c_admin: no STE type in common with the granter), which
// makes the MAC module revoke every grant mapping and event channel between us and the granter.
// Then, per round: touching is not allowed any more (revoke_fault touches and must die with a
// page fault in the grant window); after relabelling back, the granter's GTF bits are already
// clear, every unmap of a revoked handle says GNTST_revoked (once; then bad_handle), and the
// granter's pages are intact. With after=<name> the first relabel waits for that domain's end.
#include "client.h"

#define MAX_MAPS 100

static uint64_t va[MAX_MAPS];
static struct gnttab_map_grant_ref maps[MAX_MAPS];
static struct gnttab_unmap_grant_ref unmaps[MAX_MAPS];

/* Write and read every page, a few times, yielding so the granter runs in between. */
static void use(struct gnt_conn *c, unsigned n, uint32_t round)
{
    for (unsigned pass = 0; pass < 3; pass++) {
        for (unsigned i = 0; i < n; i++) {
            volatile uint32_t *p = (volatile uint32_t *)va[i];
            p[8] = round << 16 | i;
            xtf_check(p[0] == GNT_PATTERN(i), "round %u page %u reads %#x", round, i, p[0]);
        }
        sched_yield();
    }
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, GNT_DATA_REF + n - 1, 8, 0), round << 16 | (n - 1));
}

static void round_of(struct gnt_conn *c, unsigned n, uint32_t home, uint32_t away, bool fault)
{
    for (unsigned i = 0; i < n; i++) {
        va[i] = gnt_va();
        maps[i] = (struct gnttab_map_grant_ref){ .host_addr = va[i], .flags = GNTMAP_host_map,
                                                 .ref = GNT_DATA_REF + i, .dom = c->peer };
    }
    xtf_check_eq(gnttab_map_batch(maps, n), 0);
    for (unsigned i = 0; i < n; i++)
        xtf_assert(maps[i].status == GNTST_okay, "map %u: %s", i, gnttab_status_name(maps[i].status));
    use(c, n, n);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), GTF_permit_access | GTF_reading | GTF_writing);

    uint32_t grants = 0, chans = 0;
    uint64_t t0 = rdtsc();
    long rc = gnt_relabel(away, &grants, &chans);
    uint64_t t1 = rdtsc();
    xtf_assert(rc == 0, "relabel to %#x: %ld", away, rc);
    printf("round %u: relabel revoked %u grant mappings and %u event channels (%lu tsc per mapping)\n", n, grants,
           chans, (unsigned long)((t1 - t0) / (grants ? grants : 1)));
    xtf_check_eq(grants, n + 1); /* the data pages and the control page */
    xtf_check_eq(chans, 1);
    /* Relabelling again (to the same label) sweeps again: the revoked mappings, listed until we
     * unmap them, are not revoked (torn down, unpinned) a second time. */
    xtf_assert(gnt_relabel(away, &grants, &chans) == 0, "relabel to %#x again", away);
    xtf_check(grants == 0 && chans == 0, "round %u: the second sweep revoked %u grants, %u channels", n, grants,
              chans);
    if (fault) {
        printf("touching a revoked page at %#lx\n", (unsigned long)va[n - 1]);
        console_flush();
        *(volatile uint32_t *)va[n - 1] = 1; /* must fault: the page is gone */
        xtf_failure("Fail: wrote to a revoked mapping and lived\n");
        xtf_exit();
    }
    /* While we are labelled away, nothing new may be shared. */
    uint64_t probe = gnt_va();
    xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF, probe, true, NULL), GNTST_permission_denied);

    xtf_assert(gnt_relabel(home, &grants, &chans) == 0, "relabel back to %#x", home);
    xtf_check_eq(grants, 0);
    grant_handle_t old_ctl = c->ctl_handle;
    uint64_t old_ctl_va = c->ctl_va;
    xtf_assert(gnt_connect(c, c->peer) == 0, "reconnect after relabelling back");
    /* The revocation itself dropped the granter's pins, before any unmap of ours. */
    for (unsigned i = 0; i < n; i++)
        xtf_check(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF + i, 0, 0) == GTF_permit_access,
                  "round %u: ref %u still marked in use after revocation", n, GNT_DATA_REF + i);
    /* The old addresses are free again, though the handles are not yet given back. */
    grant_handle_t h;
    xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF, va[0], true, &h), GNTST_okay);
    xtf_check_eq(*(volatile uint32_t *)va[0], GNT_PATTERN(0));
    xtf_check_eq(gnttab_unmap(h, va[0]), GNTST_okay);
    for (unsigned i = 0; i < n; i++)
        unmaps[i] = (struct gnttab_unmap_grant_ref){ .host_addr = va[i], .handle = maps[i].handle };
    xtf_check_eq(gnttab_unmap_batch(unmaps, n), 0);
    unsigned revoked = 0;
    for (unsigned i = 0; i < n; i++)
        revoked += unmaps[i].status == GNTST_revoked;
    xtf_check_eq(revoked, n);
    xtf_check_eq(gnttab_unmap(old_ctl, old_ctl_va), GNTST_revoked);
    xtf_check_eq(gnttab_unmap(old_ctl, old_ctl_va), GNTST_bad_handle);
    xtf_check_eq(gnttab_unmap(maps[0].handle, va[0]), GNTST_bad_handle);
    /* The granter's pages were not freed: what we wrote before the revocation is still there. */
    xtf_check_eq((uint32_t)gnt_call(c, GNT_CMD_READ, GNT_DATA_REF + n - 1, 8, 0), n << 16 | (n - 1));
    for (unsigned i = 0; i < n; i++)
        gnttab_va_free(va[i]);
    gnttab_va_free(probe);
    printf("round %u: %u revoked unmaps\n", n, revoked);
}

/*
 * after=<name>: the domain of that name is gone before our first relabel (its death must leave
 * the sweeps our slot). We may read every domain's state (the label's read_state, checked on the
 * granter), so a name no domain has any more is a domain that ended.
 */
static void wait_until_gone(const struct gnt_conn *c, const char *name)
{
    struct moat_domctl_info info;
    xtf_assert(domctl_getinfo(c->peer, &info) == 0, "may not read the granter's state: read_state needed");
    uint64_t deadline = now_ns() + 10 * NS_PER_SEC;
    while (domctl_find(name) >= 0) {
        xtf_assert(now_ns() < deadline, "'%s' still runs after 10 s", name);
        sleep_ns(NS_PER_MS);
    }
    printf("'%s' has ended\n", name);
}

void part_revoke(struct gnt_conn *c, bool fault)
{
    uint32_t home = start_info->ssidref;
    uint32_t away = (uint32_t)cmdline_ulong("relabel_to", 0);
    xtf_assert(away != 0, "relabel_to=<ssidref> is required");
    xtf_assert(c->nr_data >= MAX_MAPS, "the peer grants %u pages, %u needed", c->nr_data, MAX_MAPS);
    char after[DOMCTL_NAME_MAX];
    if (cmdline_get("after", after, sizeof(after)))
        wait_until_gone(c, after);
    static const unsigned rounds[] = { 1, 10, 100 };
    for (unsigned r = 0; r < ARRAY_SIZE(rounds); r++)
        round_of(c, fault ? 10 : rounds[r], home, away, fault);
    xtf_check_eq(gnttab_unmap(c->ctl_handle, c->ctl_va), GNTST_okay);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
