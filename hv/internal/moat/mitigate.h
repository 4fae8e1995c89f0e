/* SPDX-License-Identifier: MIT */
/*
 * Covert-channel mitigations (docs/covert-channels.md), each chosen by a word of the command line
 * `mitigate=domid,pools` (or `mitigate=all`); none is on by default.
 *
 *   domid   a domain created by domctl gets an id drawn from a keyed pseudo-random function of
 *           its creator and the creator's own count of children (ids 64 to 0x7fef), not the
 *           lowest free entry of the domain table: an id says nothing about other labels. The
 *           boot manifest's domains keep ids 0, 1, ... (the administrator chose them).
 *   pools   every label (policy row) gets an equal share of the machine's frames and of the
 *           domain table: a label's create or grant mapping fails only because of its own
 *           domains, never because another label holds the memory or the table entries.
 */
#ifndef MOAT_MITIGATE_H
#define MOAT_MITIGATE_H

#include <moat/types.h>
#include <public/hv.h>

struct domain;

#define MITIGATE_DOMID (1u << 0)
#define MITIGATE_POOLS (1u << 1)

extern uint32_t mitigations; /* set once, by mitigate_init */

static inline bool mitigated(uint32_t which) { return (mitigations & which) != 0; }

/* After the policy is loaded, before any domain: reads mitigate=, keys the id function, sizes the
 * pools. An unknown word stops the machine (a typo must not leave a server unprotected). */
void mitigate_init(void);

/* domid: candidate n for the id of a domain that creator creates (the caller skips ids in use). */
domid_t mitigate_child_id(const struct domain *creator, uint32_t n);

/* pools: charged at frame_alloc for the owner domain's label. POOL_NONE: not pooled (the
 * hypervisor's own frames, or pools are off); POOL_FULL: the label has used its share. */
#define POOL_NONE 0
#define POOL_FULL 0xff
uint8_t pool_charge_label(uint16_t owner);
void pool_uncharge_label(uint8_t pool);
/* The test of "pools off" is inline: frame_alloc and frame_free run for every frame of every
 * create and destroy, and the default configuration must not pay for a call per frame. */
static inline uint8_t pool_charge(uint16_t owner)
{
    return mitigated(MITIGATE_POOLS) ? pool_charge_label(owner) : POOL_NONE;
}
static inline void pool_uncharge(uint8_t pool) /* at frame_free, with what pool_charge returned */
{
    if (pool != POOL_NONE)
        pool_uncharge_label(pool);
}
/* May another domain of this label (besides `self`, being built) take a domain-table entry? */
bool pool_slot_available(uint32_t ssidref, const struct domain *self);

#endif
