// SPDX-License-Identifier: MIT
// Grant-table tests against a gnt_peer granter (the reference's acceptance tests; see
// docs/grant-tables.md for the map from test items to parts).
//   peer=<domid>          the gnt_peer domain
//   part=ops|stress|die|orphan|reused|reused_revoke|deny|revoke|revoke_fault
//   part=launch|spawned   (no peer=: the granter is created at run time; spawn.c)
//   part=bigram           (no peer=: its own pages around 1 GiB; bigram.c)
//   part=quota            (no peer=: its own grant past its label's memory quota; quota.c)
#include "client.h"

void test_main(void)
{
    static struct gnt_conn conn;
    char part[16];
    bool named = cmdline_get("part", part, sizeof(part));
    if (named && strcmp(part, "launch") == 0) {
        part_launch();
        return;
    }
    if (named && strcmp(part, "bigram") == 0) {
        part_bigram();
        return;
    }
    if (named && strcmp(part, "quota") == 0) {
        part_quota();
        return;
    }
    if (named && strcmp(part, "spawned") == 0) {
        part_spawned(&conn);
        return;
    }
    domid_t peer = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    if (peer == DOMID_INVALID || !named) {
        xtf_error("Error: usage: peer=<domid> part=<name>\n");
        return;
    }
    if (strcmp(part, "deny") == 0) {
        part_deny(peer);
        return;
    }
    if (strcmp(part, "ops") == 0) {
        part_ops(&conn); /* connects itself: some checks must come before anything else */
        return;
    }
    if (gnt_connect(&conn, peer) != 0)
        return;
    if (strcmp(part, "stress") == 0)
        part_stress(&conn);
    else if (strcmp(part, "die") == 0)
        part_die(&conn);
    else if (strcmp(part, "orphan") == 0)
        part_orphan(&conn);
    else if (strcmp(part, "reused") == 0)
        part_reused(&conn);
    else if (strcmp(part, "reused_revoke") == 0)
        part_reused_revoke(&conn);
    else if (strcmp(part, "revoke") == 0)
        part_revoke(&conn, false);
    else if (strcmp(part, "revoke_fault") == 0)
        part_revoke(&conn, true);
    else
        xtf_error("Error: unknown part '%s'\n", part);
}
