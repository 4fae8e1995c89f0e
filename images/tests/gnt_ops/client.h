/* SPDX-License-Identifier: MIT */
/* The tester's side of gnt_rpc.h, and the parts of gnt_ops (one per scenario). */
#ifndef GNT_CLIENT_H
#define GNT_CLIENT_H

#include <moat/gnttab.h>
#include <moat/test.h>

#include "../gnt_peer/gnt_rpc.h"

struct gnt_conn {
    domid_t peer;
    volatile struct gnt_rpc *ctl;
    grant_handle_t ctl_handle;
    uint64_t ctl_va;
    evtchn_port_t port;
    unsigned nr_data;
};

/* Maps the peer's control page (waiting for it to be published) and binds its port; 0 or -1. */
int gnt_connect(struct gnt_conn *c, domid_t peer);
/* Runs one command on the peer and returns its result (ends the test with ERROR on a timeout). */
int32_t gnt_call(struct gnt_conn *c, uint32_t cmd, uint32_t ref, uint32_t arg, uint32_t arg2);
/* Waits until domain `dom` is gone (query_size says bad_domain); false on timeout. */
bool gnt_wait_gone(domid_t dom, uint64_t timeout_ns);
/* Relabels ourselves (needs load_policy): the MAC sweep's return code and what it revoked. */
long gnt_relabel(uint32_t ssidref, uint32_t *revoked_grants, uint32_t *revoked_evtchn);
/* A fresh page of the grant window (ends the test with ERROR if there is none). */
uint64_t gnt_va(void);

void part_ops(struct gnt_conn *c);
void part_stress(struct gnt_conn *c);
void part_die(struct gnt_conn *c);
void part_orphan(struct gnt_conn *c);
void part_reused(struct gnt_conn *c);
void part_reused_revoke(struct gnt_conn *c);
void part_deny(domid_t peer);
void part_revoke(struct gnt_conn *c, bool fault);
void part_launch(void);
void part_spawned(struct gnt_conn *c);
void part_bigram(void);
void part_quota(void);

#endif
