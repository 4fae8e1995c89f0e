/* SPDX-License-Identifier: MIT */
/*
 * Links between boot domains (core/link.c, docs/networking.md): the manifest's link records,
 * checked with the rest of the manifest and published to both ends' start-info pages. The
 * hypervisor sets up nothing for a link: the ends connect with ordinary grant and event-channel
 * ops, under the MAC policy. It only keeps each end's `vlans` (the STE types both hold) current.
 */
#ifndef MOAT_LINK_H
#define MOAT_LINK_H

#include <moat/types.h>
#include <public/manifest.h>

struct domain;

/* Why the link records are malformed, or NULL. `links` has n records; domain_count records exist. */
const char *link_check(const struct manifest_link *links, unsigned n, unsigned domain_count);
/*
 * Publishes checked links to both ends' start info; built[i] is the domain built from record i
 * (NULL if it could not be built: its links are left out). Prints one line per link.
 */
void link_publish(const struct manifest_link *links, unsigned n, struct domain *const *built);
/* The policy or a label changed: recompute every published link's vlans at both ends. */
void link_policy_changed(void);

#endif
