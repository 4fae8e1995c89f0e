// SPDX-License-Identifier: MIT
// Death with live mappings.
// part=die (item 33): map pages, then die with them live by writing to a read-only mapping
//   (which must fault: read-only is enforced by the page tables); gnt_peer then checks that
//   every GTF_reading/GTF_writing bit dropped and every grant can be ended.
// part=orphan (item 34): the granter exits while we map its pages. The pages must stay alive
//   and untouched (a domain created after the granter's death, whose memory would reuse freed
//   frames, must not show through), the unmaps succeed (one of them before anyone takes the dead
//   granter's slot, the others after), and the boot test checks the frame
//   counts at stop: the pages were freed after the last unmap, once. Needs privilege (domctl)
//   and the `hello` image.
#include "client.h"

#define N 6

void part_die(struct gnt_conn *c)
{
    grant_handle_t h;
    for (unsigned i = 0; i < N; i++) {
        uint64_t va = gnt_va();
        bool ro = i % 2 == 0;
        xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF + i, va, ro, &h), GNTST_okay);
        if (!ro)
            *(volatile uint32_t *)va = 0x1000 + i;
    }
    uint64_t va = gnt_va();
    xtf_check_eq(gnttab_map(c->peer, GNT_RO_REF(c->nr_data), va, true, &h), GNTST_okay);
    xtf_check_eq(*(volatile uint32_t *)va, GNT_PATTERN_RO);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF + 1, 0, 0), GTF_permit_access | GTF_reading | GTF_writing);
    xtf_check_eq(gnt_call(c, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), GTF_permit_access | GTF_reading);
    if (xtf_result() != XTF_RUNNING)
        return; /* a failure so far must show as FAILURE, not as the expected crash */
    printf("writing to the read-only mapping at %#lx with %u mappings live\n", (unsigned long)va, N + 2);
    console_flush();
    *(volatile uint32_t *)va = 1;
    xtf_failure("Fail: wrote to a read-only mapping\n");
}

void part_orphan(struct gnt_conn *c)
{
    static uint64_t va[N];
    static grant_handle_t h[N];
    for (unsigned i = 0; i < N; i++) {
        va[i] = gnt_va();
        xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF + i, va[i], false, &h[i]), GNTST_okay);
        ((volatile uint32_t *)va[i])[1] = 0x0f0f0000 + i;
    }
    /* One more, unmapped while the dead granter's slot is still free (nobody has taken it yet):
     * its table went with it, so the unmap must not unpin anything there (a free slot keeps the
     * dead domain's incarnation; only its state says it is gone). */
    uint64_t extra_va = gnt_va();
    grant_handle_t extra;
    xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF + N, extra_va, false, &extra), GNTST_okay);
    gnt_call(c, GNT_CMD_EXIT, 0, 0, 0);
    if (!xtf_check(gnt_wait_gone(c->peer, 10 * NS_PER_SEC), "the granter did not exit"))
        return;
    xtf_check_eq(gnttab_unmap(extra, extra_va), GNTST_okay);
    printf("granter d%u is gone; %u of its pages still mapped\n", c->peer, N + 1);
    /* A policy sweep (relabelling ourselves to our own label) meets mappings whose granter is
     * gone: there is no one to share with or not, so it leaves them alone. */
    uint32_t grants = 99, chans = 99;
    xtf_check_eq(gnt_relabel(start_info->ssidref, &grants, &chans), 0);
    xtf_check_eq(grants, 0);
    /* Make the hypervisor hand out frames: freed ones would come first. */
    int img = find_image("hello");
    xtf_assert(img >= 0, "the hello image is not among the modules");
    struct domctl_create_args args = { .image = (uint32_t)img, .memory_kib = 1024, .ssidref = start_info->ssidref,
                                       .name = "reuser", .cmdline = "greeting=reuse" };
    domid_t child;
    xtf_check_eq(domctl_create(&args, &child), 0);
    sleep_ns(20 * NS_PER_MS);
    for (unsigned i = 0; i < N; i++) {
        volatile uint32_t *p = (volatile uint32_t *)va[i];
        xtf_check(p[0] == GNT_PATTERN(i) && p[1] == 0x0f0f0000 + i && p[1023] == GNT_PATTERN(i),
                  "page %u changed after the granter died: %#x %#x %#x", i, p[0], p[1], p[1023]);
        p[2] = 0x77777777; /* still writable, still ours */
    }
    xtf_check_eq(*(volatile uint32_t *)c->ctl_va, GNT_RPC_MAGIC);
    for (unsigned i = 0; i < N; i++)
        xtf_check_eq(gnttab_unmap(h[i], va[i]), GNTST_okay);
    xtf_check_eq(gnttab_unmap(c->ctl_handle, c->ctl_va), GNTST_okay);
    xtf_check_eq(gnttab_unmap(h[0], va[0]), GNTST_bad_handle);
    /* The reuser may have taken the granter's id (the lowest free one): while it lives, a map
     * from that id meets a domain without a grant table (GNTST_general_error), not a dead one.
     * On several CPUs it may still be running here; once it has exited, nobody has the id. */
    xtf_check(gnt_wait_gone(child, 10 * NS_PER_SEC), "the reuser d%u did not exit", child);
    xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF, va[0], true, NULL), GNTST_bad_domain);
    printf("orphaned pages unmapped\n");
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}

/* Maps the granter's N data pages read-only at fresh addresses, then asks it to exit. */
static void map_all_then_end_granter(struct gnt_conn *c, uint64_t va[N], grant_handle_t h[N])
{
    for (unsigned i = 0; i < N; i++) {
        va[i] = gnt_va();
        xtf_check_eq(gnttab_map(c->peer, GNT_DATA_REF + i, va[i], false, &h[i]), GNTST_okay);
    }
    gnt_call(c, GNT_CMD_EXIT, 0, 0, 0);
}

/*
 * part=reused: the granter exits while we map its pages, and a new granter (gnt_peer again) takes
 * its domain id. Unmapping the dead granter's pages must drop nothing of the new one's, which
 * grants the same refs: its pins (the refs we map from it now) stay, its unmapped refs stay
 * unpinned, and when we end it finds every grant released. Needs privilege and `gnt_peer`.
 */
void part_reused(struct gnt_conn *c)
{
    static uint64_t va[N];
    static grant_handle_t h[N];
    map_all_then_end_granter(c, va, h);
    if (!xtf_check(gnt_wait_gone(c->peer, 10 * NS_PER_SEC), "the granter did not exit"))
        return;
    int img = find_image("gnt_peer");
    xtf_assert(img >= 0, "the gnt_peer image is not among the modules");
    static char cmdline[48];
    snprintf(cmdline, sizeof(cmdline), "peer=%u data=%u", start_info->domid, c->nr_data);
    struct domctl_create_args args = { .image = (uint32_t)img, .memory_kib = 1024, .ssidref = start_info->ssidref,
                                       .name = "reuser", .cmdline = cmdline };
    domid_t child;
    xtf_check_eq(domctl_create(&args, &child), 0);
    if (!xtf_check(child == c->peer, "the new granter got d%u, not the dead one's d%u", child, c->peer))
        return;
    static struct gnt_conn c2;
    if (gnt_connect(&c2, child) != 0) /* pins the new granter's control ref, as we pinned the old one's */
        return;
    uint64_t live_va = gnt_va();
    grant_handle_t live_h;
    xtf_check_eq(gnttab_map(child, GNT_DATA_REF, live_va, false, &live_h), GNTST_okay);
    const uint32_t in_use = GTF_permit_access | GTF_reading | GTF_writing;
    xtf_check_eq(gnt_call(&c2, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), in_use);
    xtf_check_eq(gnt_call(&c2, GNT_CMD_FLAGS, GNT_DATA_REF + 1, 0, 0), GTF_permit_access);
    printf("d%u reused by a new granter; unmapping the dead one's pages\n", child);

    for (unsigned i = 0; i < N; i++)
        xtf_check_eq(gnttab_unmap(h[i], va[i]), GNTST_okay);
    xtf_check_eq(gnttab_unmap(c->ctl_handle, c->ctl_va), GNTST_okay);

    /* The new granter's entries are as they were: what we map is pinned, nothing else is. */
    xtf_check_eq(gnt_call(&c2, GNT_CMD_FLAGS, GNT_CTL_REF, 0, 0), in_use);
    xtf_check_eq(gnt_call(&c2, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), in_use);
    for (unsigned i = 1; i < c2.nr_data; i++)
        xtf_check(gnt_call(&c2, GNT_CMD_FLAGS, GNT_DATA_REF + i, 0, 0) == GTF_permit_access,
                  "ref %u of the new granter: flags %#x after the dead one's unmaps", GNT_DATA_REF + i,
                  gnt_call(&c2, GNT_CMD_FLAGS, GNT_DATA_REF + i, 0, 0));
    *(volatile uint32_t *)live_va = 0x600d;
    xtf_check_eq(gnt_call(&c2, GNT_CMD_READ, GNT_DATA_REF, 0, 0), 0x600d);
    xtf_check_eq(gnttab_unmap(live_h, live_va), GNTST_okay);
    xtf_check_eq(gnt_call(&c2, GNT_CMD_FLAGS, GNT_DATA_REF, 0, 0), GTF_permit_access);
    printf("the new granter's pins are intact\n");
    /* We end now (with our mapping of its control page): the new granter then checks all released. */
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}

/*
 * part=reused_revoke reuser_label=<ssidref> relabel_to=<ssidref>: as part=reused, then a policy
 * sweep revokes the new granter's mappings (we relabel ourselves to `relabel_to`, which shares
 * nothing with `reuser_label`). The dead granter's pages we still map carry the id the new one
 * has now, but not its incarnation: the sweep must count and tear down the new one's two
 * mappings only, never unpin the dead one's refs in the new one's table. Needs create (of
 * `reuser_label`) and load_policy (no read_state: the granter's death shows on our channel to
 * it), and `gnt_peer`.
 */
void part_reused_revoke(struct gnt_conn *c)
{
    uint32_t reuser_label = (uint32_t)cmdline_ulong("reuser_label", 0), away = (uint32_t)cmdline_ulong("relabel_to", 0);
    uint32_t home = start_info->ssidref;
    xtf_assert(reuser_label && away, "reuser_label= and relabel_to= are required");
    static uint64_t va[N];
    static grant_handle_t h[N];
    map_all_then_end_granter(c, va, h);
    /* Without read_state we cannot ask about the granter; its death unbinds our channel to it. */
    uint64_t deadline = now_ns() + 10 * NS_PER_SEC;
    for (;;) {
        struct evtchn_status st = { .dom = DOMID_SELF, .port = c->port };
        if (HYPERVISOR_event_channel_op(EVTCHNOP_status, &st) == 0 && st.status != EVTCHNSTAT_interdomain)
            break;
        xtf_assert(now_ns() < deadline, "the granter did not exit");
        sleep_ns(NS_PER_MS);
    }
    int img = find_image("gnt_peer");
    xtf_assert(img >= 0, "the gnt_peer image is not among the modules");
    static char cmdline[48];
    snprintf(cmdline, sizeof(cmdline), "peer=%u data=%u", start_info->domid, c->nr_data);
    struct domctl_create_args args = { .image = (uint32_t)img, .memory_kib = 1024, .ssidref = reuser_label,
                                       .name = "reuser", .cmdline = cmdline };
    domid_t child;
    xtf_assert(domctl_create(&args, &child) == 0, "creating the reuser");
    if (!xtf_check(child == c->peer, "the new granter got d%u, not the dead one's d%u", child, c->peer))
        return;
    static struct gnt_conn c2;
    if (gnt_connect(&c2, child) != 0)
        return;
    uint64_t live_va = gnt_va();
    grant_handle_t live_h;
    xtf_check_eq(gnttab_map(child, GNT_DATA_REF + 1, live_va, false, &live_h), GNTST_okay);

    uint32_t grants = 0, chans = 0;
    xtf_assert(gnt_relabel(away, &grants, &chans) == 0, "relabel to %#x", away);
    printf("relabelled away: revoked %u grant mappings and %u event channels\n", grants, chans);
    xtf_check(grants == 2, "revoked %u grant mappings: the new granter's are 2, the dead one's %u are not its own",
              grants, N + 1);
    xtf_assert(gnt_relabel(home, &grants, &chans) == 0, "relabel back to %#x", home);
    xtf_check_eq(grants, 0);
    grant_handle_t old_ctl = c2.ctl_handle;
    uint64_t old_ctl_va = c2.ctl_va;
    xtf_assert(gnt_connect(&c2, child) == 0, "reconnect after relabelling back");
    /* Nothing of the new granter's is pinned but its control page, and every ref maps again. */
    for (unsigned i = 0; i < c2.nr_data; i++)
        xtf_check(gnt_call(&c2, GNT_CMD_FLAGS, GNT_DATA_REF + i, 0, 0) == GTF_permit_access,
                  "ref %u of the new granter: flags %#x after the sweep", GNT_DATA_REF + i,
                  gnt_call(&c2, GNT_CMD_FLAGS, GNT_DATA_REF + i, 0, 0));
    uint64_t probe = gnt_va();
    for (unsigned i = 0; i < N; i++) {
        grant_handle_t ph;
        if (xtf_check(gnttab_map(child, GNT_DATA_REF + i, probe, true, &ph) == GNTST_okay, "ref %u maps again",
                      GNT_DATA_REF + i))
            xtf_check_eq(gnttab_unmap(ph, probe), GNTST_okay);
    }
    /* The dead granter's pages were left alone: they unmap as usual, once. */
    for (unsigned i = 0; i < N; i++)
        xtf_check_eq(gnttab_unmap(h[i], va[i]), GNTST_okay);
    xtf_check_eq(gnttab_unmap(c->ctl_handle, c->ctl_va), GNTST_okay);
    xtf_check_eq(gnttab_unmap(live_h, live_va), GNTST_revoked);
    xtf_check_eq(gnttab_unmap(old_ctl, old_ctl_va), GNTST_revoked);
    printf("the sweep revoked only the new granter's mappings\n");
    /* We end now (with our mapping of its control page): the new granter then checks all released. */
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
