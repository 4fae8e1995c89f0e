/* SPDX-License-Identifier: MIT */
/*
 * Resource quotas per label (docs/resource-control.md). The policy's QUOTAS section limits, for
 * each label, the memory (frames charged), domains, event-channel ports, grant-table frames and
 * maptrack entries its domains hold; a domain's use also counts against the label of the
 * domain that created it (a management domain spends its own budget on what it creates).
 *
 * Each domain keeps what it holds (struct quota_account); while the policy has limits, each label
 * row keeps the sum over the domains charged to it, rebuilt from the domains whenever the policy
 * or a label changes (under a policy without limits the rows are not kept: nothing reads them).
 * Exhausting a limit fails only the operation of a domain charged to that label: -XEN_ENOMEM for
 * memory, -XEN_ENOSPC (or GNTST_no_space) for the others.
 */
#ifndef MOAT_QUOTA_H
#define MOAT_QUOTA_H

#include <moat/shutdown.h>
#include <moat/types.h>
#include <public/xsm/acm.h>

struct domain;

enum quota_kind {
    QUOTA_FRAMES = ACM_QUOTA_MEMORY_KIB, /* counted in frames; the policy gives KiB */
    QUOTA_DOMAINS = ACM_QUOTA_DOMAINS,
    QUOTA_PORTS = ACM_QUOTA_PORTS,
    QUOTA_GRANT_FRAMES = ACM_QUOTA_GRANT_FRAMES,
    QUOTA_MAPTRACK = ACM_QUOTA_MAPTRACK,
    QUOTA_KINDS = ACM_QUOTA_FIELDS,
};

struct quota_account {
    uint32_t held[QUOTA_KINDS];  /* what the domain holds now */
    uint32_t creator_ssidref;    /* its creator's label when it was created */
    bool has_creator;            /* created by a domain (not by the boot manifest) */
    uint16_t rows[2];            /* the label rows charged (+1; 0: none): its own, its creator's */
    /* Per row above, its sums and limits (quota.c), resolved when the rows are set so that a
     * check is two loads and a compare per row, with no index to bound. */
    const uint32_t *use[2], *limit[2];
};

/* A new domain (its ssidref set, nothing allocated yet): charged to its label and its creator's;
 * -XEN_ENOSPC if either label already has all the domains it may have. */
int quota_domain_start(struct domain *d, const struct domain *creator);
/* A domain's end: its domain count goes back. Everything else it held must have gone back
 * already (checked: a charge that outlives its domain is a hypervisor bug). */
void quota_domain_end(struct domain *d);
/* Have both of d's labels room for n more of a resource? */
bool quota_room(const struct domain *d, enum quota_kind kind, uint32_t n);
/* Takes n of a resource for d if both of its labels have room; false (nothing taken) if not. */
bool quota_take(struct domain *d, enum quota_kind kind, uint32_t n);
/* The same two for an account (&d->quota), inline: under a policy without limits (the common
 * case) a take is the account's own count and a give that count with its underflow check, with
 * no call; with limits, the room check and the label rows' sums out of line (quota.c). */
extern bool quota_any_limit; /* the live policy has limits (quota.c keeps it) */
bool quota_account_take_limited(struct quota_account *q, enum quota_kind kind, uint32_t n);
void quota_account_give_limited(struct quota_account *q, enum quota_kind kind, uint32_t n);
/* The account's own count, taken or given back; giving back more than it holds is a hypervisor bug. */
static inline __attribute__((always_inline)) void quota_held_charge(struct quota_account *q, enum quota_kind kind,
                                                                    uint32_t n, bool take)
{
    uint32_t *h = &q->held[kind];
    BUG_ON(!take && *h < n);
    *h = take ? *h + n : *h - n;
}
static inline bool quota_account_take(struct quota_account *q, enum quota_kind kind, uint32_t n)
{
    if (quota_any_limit)
        return quota_account_take_limited(q, kind, n);
    quota_held_charge(q, kind, n, true);
    return true;
}
static inline void quota_account_give(struct quota_account *q, enum quota_kind kind, uint32_t n)
{
    if (quota_any_limit)
        quota_account_give_limited(q, kind, n);
    else
        quota_held_charge(q, kind, n, false);
}
/* Takes n whatever the limits (the caller checked quota_room, or gives back as much first). */
void quota_charge(struct domain *d, enum quota_kind kind, uint32_t n);
/* Gives n back. */
void quota_give(struct domain *d, enum quota_kind kind, uint32_t n);
/* At boot (the policy loaded), and whenever the policy changes: the limits again, and every
 * domain recharged to its labels of now. */
void quota_rebuild(void);
/* d was relabelled: its charges move from its old label's row to its new one's (the limits and
 * every other domain's charges stay as they are). */
void quota_relabel(struct domain *d);
/* Frame charging, for the frame allocator: owner is a domain id or DOMID_HV / DOMID_ORPHAN. */
void quota_frame_give(uint16_t owner);

#endif
