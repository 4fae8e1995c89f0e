/* SPDX-License-Identifier: MIT */
/*
 * The MAC test controller (tests/mac): runs as label `system` of tests/scenarios/policies/
 * mac-test.toml and is itself the subject of most checks, so no cross-domain handshakes are
 * needed: it creates mac_peer children with the labels a test needs, allocates their ports for
 * itself (a foreign alloc_unbound, decided on the port owner's label) and binds them.
 */
#ifndef MAC_CTL_COMMON_H
#define MAC_CTL_COMMON_H

#include <moat/acm.h>
#include <moat/test.h>
#include <public/grant_table.h>

#include "embedded_policies.h"

#define SELF (start_info->domid)
#define XSM_CACHE_SIZE_GUEST 8 /* the hypervisor's per-domain cache (moat/xsm.h XSM_CACHE_SIZE) */
#define GRANT_VA(i) (GUEST_GRANT_VA + (uint64_t)(i) * GUEST_PAGE_SIZE)

/* Children (image mac_peer): created with a label and a command line; a failure ends the test. */
domid_t child(uint32_t ssidref, const char *name, const char *cmdline);
long child_try(uint32_t ssidref, const char *name, const char *cmdline, domid_t *domid);
void kill(domid_t domid);
/* Creates a sleeping child and destroys it at once: the creation's result. */
long try_create(uint32_t ssidref, const char *name);
/* Waits (up to 10 s) until the domain is gone. */
bool wait_gone(domid_t domid);

/* Event channels (raw hypercalls). */
long ev_alloc(domid_t dom, domid_t remote, evtchn_port_t *port);
long ev_bind(domid_t remote_dom, evtchn_port_t remote_port, evtchn_port_t *local);
long ev_status(domid_t dom, evtchn_port_t port, struct evtchn_status *st);
long ev_close(evtchn_port_t port);
/* Channel ports (unbound or interdomain) of dom among 1..63. */
unsigned ev_used(domid_t dom);
/* A channel to peer: the peer's port is allocated for us, we bind it. Returns our port. */
evtchn_port_t channel(domid_t peer, evtchn_port_t *peer_port);
bool ev_pending(evtchn_port_t port);
bool wait_pending(evtchn_port_t port); /* up to 10 s; false if it never became pending */
void ev_clear_pending(evtchn_port_t port);

/* Grants (raw hypercalls). */
int16_t gnt_map(domid_t granter, grant_ref_t ref, uint64_t va, grant_handle_t *handle);
int16_t gnt_unmap(grant_handle_t handle);
/* Waits (up to 10 s) until dom's grant table has at least `frames` frames. */
bool gnt_wait_table(domid_t dom, uint32_t frames);
/* Our own grant table: `frames` frames in static pages; entry(ref) to write entries. */
void gnt_own_setup(uint32_t frames);
struct grant_entry_v1 *gnt_own_entry(grant_ref_t ref);
/* The PFN of an address in our RAM. */
uint64_t pfn_of(const void *p);

struct acm_stats mac_stats(void);

/* Suites, chosen by the command line's suite=. */
void suite_ste(void);
void suite_chwall(void);
void suite_policy(void);
void suite_perm(void);
void suite_scale(void);
void suite_rows(void);
void suite_relabel(void);
void suite_errors(void);
void suite_malformed(void);
void suite_logfull(void);
void suite_sweep(void);

#endif
