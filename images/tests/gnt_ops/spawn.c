// SPDX-License-Identifier: MIT
// Revocation between domains created at run time, whose ids under `mitigate=domid` are drawn
// from a keyed hash (64 and up) rather than being their slot numbers. A policy sweep that walks
// ids 0-63 would never visit them: this part is the test that it does.
// part=launch label=<ssidref> granter_label=<ssidref> relabel_to=<ssidref>
//   (a boot domain) creates a `mapper`, gnt_ops part=spawned under `label`, and waits for it to end.
// part=spawned granter_label=<ssidref> relabel_to=<ssidref>
//   creates a `granter`, gnt_peer under `granter_label` granting to us, and runs part=revoke
//   against it: both ends of every mapping and channel are domains created at run time.
#include <moat/hypercall.h>

#include "client.h"

static domid_t create(const char *image, const char *name, uint32_t ssidref, const char *cmdline)
{
    int img = find_image(image);
    xtf_assert(img >= 0, "the %s image is not among the modules", image);
    struct domctl_create_args args = { .image = (uint32_t)img, .memory_kib = 1024, .ssidref = ssidref,
                                       .name = name, .cmdline = cmdline };
    domid_t child = DOMID_INVALID;
    long rc = domctl_create(&args, &child);
    xtf_assert(rc == 0, "creating %s: %ld", name, rc);
    printf("created %s as d%u\n", name, child);
    return child;
}

void part_launch(void)
{
    uint32_t label = (uint32_t)cmdline_ulong("label", 0);
    uint32_t granter_label = (uint32_t)cmdline_ulong("granter_label", 0);
    uint32_t away = (uint32_t)cmdline_ulong("relabel_to", 0);
    xtf_assert(label && granter_label && away, "label=, granter_label= and relabel_to= are required");
    static char cmdline[96];
    snprintf(cmdline, sizeof(cmdline), "part=spawned granter_label=%#x relabel_to=%#x", granter_label, away);
    domid_t mapper = create("gnt_ops", "mapper", label, cmdline);
    /* Its id is a keyed hash, not its slot: the slot numbers name no domain (we may read every
     * label's state, so a free id answers -ESRCH). */
    struct moat_domctl_info info;
    for (domid_t id = 1; id < MOAT_MAX_DOMAINS; id++)
        xtf_check(domctl_getinfo(id, &info) == -XEN_ESRCH, "d%u answers getinfo", id);
    xtf_check(gnt_wait_gone(mapper, 120 * NS_PER_SEC), "the mapper d%u did not end", mapper);
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}

void part_spawned(struct gnt_conn *c)
{
    uint32_t granter_label = (uint32_t)cmdline_ulong("granter_label", 0);
    xtf_assert(granter_label != 0, "granter_label=<ssidref> is required");
    static char cmdline[48];
    snprintf(cmdline, sizeof(cmdline), "peer=%u data=100", start_info->domid);
    domid_t granter = create("gnt_peer", "granter", granter_label, cmdline);
    if (gnt_connect(c, granter) != 0)
        return;
    part_revoke(c, false);
}
