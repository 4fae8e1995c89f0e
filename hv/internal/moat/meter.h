/* SPDX-License-Identifier: MIT */
/*
 * Metering (docs/resource-control.md): per-domain counters of what it used, read by domctl
 * MOAT_DOMCTL_getstats (public/stats.h) and printed as `stats:` lines. The counters are plain
 * increments in the domain's own structure, on paths that already hold the hypervisor lock: no
 * lock, no atomic, one instruction each on the hot paths.
 *
 * Command line `stats=N`: every N ms (10 to 60000) CPU 0 prints one line per live domain; every
 * domain prints one last line when it dies, whatever stats= says. The line (parsed by
 * tools/moat/top.py):
 *   stats: t=<ms> d=<id> name=<name> cpu=<us> hc=<calls> ev=<sent>/<received> gm=<maps>
 *          gc=<copies>/<bytes> deny=<n> mem=<pages> fr=<frames charged> ports=<n> [end]
 */
#ifndef MOAT_METER_H
#define MOAT_METER_H

#include <moat/types.h>
#include <public/hv.h>
#include <public/stats.h>

struct domain;

struct meter {
    uint64_t events_sent, events_received;
    uint64_t grant_maps, grant_copies, grant_copy_bytes;
    uint64_t mac_denials;
    uint32_t hypercalls[MOAT_NR_HYPERCALLS];
};

/* Reads stats=. A bad value stops the machine (an operator asked for something it does not get). */
void meter_init(void);
/* A CPU's tick (under the hypervisor lock): the periodic lines when they are due; lowers
 * *deadline_ns to the next one's time, so an idle CPU wakes for it. */
void meter_tick(uint64_t now_ns, uint64_t *deadline_ns);
/* A domain's counters, as the guest ABI gives them. */
void meter_fill(const struct domain *d, struct moat_domain_stats *out);
/* A domain's last line (domain_destroy). */
void meter_final(const struct domain *d);

#endif
