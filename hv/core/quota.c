// SPDX-License-Identifier: MIT
// Resource quotas per label (moat/quota.h, docs/resource-control.md).
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/lib.h>
#include <moat/nospec.h>
#include <moat/quota.h>
#include <moat/shutdown.h>
#include <moat/xsm.h>

/* Per label row: the sum of what the domains charged to it hold, kept only while the live
 * policy has limits (quota_any_limit): under a policy without, no account points to a row and a charge
 * updates the domain's own count only. Every policy change rebuilds the sums from those counts
 * (quota_rebuild), so a policy that gains limits starts from the right sums. Rows past
 * ACM_QUOTA_MAX_ROWS have no limit (a policy with quotas has no more rows) and are not summed. */
static uint32_t used[ACM_QUOTA_MAX_ROWS][QUOTA_KINDS];
/* The live policy's limits in the counters' units (UINT32_MAX: none), kept by quota_rebuild so
 * that a charge costs a few loads and compares, not a walk through the policy blob. */
static uint32_t limits[ACM_QUOTA_MAX_ROWS][QUOTA_KINDS];
static uint32_t limit_rows; /* rows of limits[] the live policy set; the others have none */
/* One past the highest row of used[] any account has ever pointed to: the rows above were never
 * charged, so a rebuild clears only these (a few rows, not all ACM_QUOTA_MAX_ROWS). */
static uint32_t used_rows;
bool quota_any_limit; /* moat/quota.h: the live policy has a QUOTAS section, else nothing is checked */

/* What an account's row points to when the row has no limits (or is not summed): a sum of 0
 * and no limit, so the check needs no test of its own for it. */
static const uint32_t no_use[QUOTA_KINDS];
static const uint32_t no_limits[QUOTA_KINDS] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX};
_Static_assert(QUOTA_KINDS == 5, "no_limits has one entry per kind");

static uint32_t row_of(uint32_t ssidref) { return ACM_SSIDREF_PRIMARY(ssidref); }

/* A row as stored in an account: row + 1, or 0 when the row is not summed (no limits at all). */
static uint16_t account_row(uint32_t row)
{
    return quota_any_limit && row < ACM_QUOTA_MAX_ROWS ? (uint16_t)(row + 1) : 0;
}

static void set_rows(struct domain *d)
{
    struct quota_account *q = &d->quota;
    q->rows[0] = account_row(row_of(d->ssidref));
    q->rows[1] = q->has_creator ? account_row(row_of(q->creator_ssidref)) : 0;
    if (q->rows[1] == q->rows[0])
        q->rows[1] = 0; /* a creator of its own label: charged once */
    used_rows = MAX(used_rows, MAX(q->rows[0], q->rows[1])); /* a row + 1: the count up to it */
    for (unsigned i = 0; i < 2; i++) {
        unsigned row = q->rows[i] ? (unsigned)array_index_nospec(q->rows[i] - 1u, ACM_QUOTA_MAX_ROWS) : 0;
        bool limited = q->rows[i] && row < limit_rows;
        q->use[i] = limited ? used[row] : no_use;
        q->limit[i] = limited ? limits[row] : no_limits;
    }
}

/* The limit of a label row from the policy, in the unit the counters use (frames for memory). */
static uint32_t policy_limit(uint32_t row, enum quota_kind kind)
{
    uint32_t l = xsm_quota_limit(row, (unsigned)kind);
    if (l == ACM_QUOTA_UNLIMITED)
        return UINT32_MAX;
    quota_any_limit = true;
    return kind == QUOTA_FRAMES ? l / (PAGE_SIZE / 1024) : l;
}

/* The first of an account's label rows that has no room for n more of kind, as row + 1; 0 if both
 * have. For a policy with limits (the caller tested quota_any_limit). */
static inline __attribute__((always_inline)) unsigned full_row_limited(const struct quota_account *q,
                                                                       enum quota_kind kind, uint32_t n)
{
    if (!q->limit[0])
        return 0; /* an account not started yet (no rows: nothing to check) */
    for (unsigned i = 0; i < 2; i++)
        if ((uint64_t)q->use[i][kind] + n > q->limit[i][kind])
            return q->rows[i];
    return 0;
}

/* The same under any policy: without limits, every row has room. */
static inline unsigned full_row(const struct quota_account *q, enum quota_kind kind, uint32_t n)
{
    return quota_any_limit ? full_row_limited(q, kind, n) : 0;
}

bool quota_room(const struct domain *d, enum quota_kind kind, uint32_t n) { return full_row(&d->quota, kind, n) == 0; }

/* The label rows' sums of an account, for a policy with limits (the caller tested quota_any_limit):
 * without, no account has rows (account_row) and nothing reads the sums. */
static inline __attribute__((always_inline)) void charge_rows(const struct quota_account *q, enum quota_kind kind,
                                                              uint32_t n, bool take)
{
    for (unsigned i = 0; i < 2; i++) {
        unsigned r = q->rows[i];
        if (!r)
            continue;
        uint32_t *u = &used[r - 1][kind];
        BUG_ON(!take && *u < n);
        *u = take ? *u + n : *u - n;
    }
}

static inline __attribute__((always_inline)) void charge(struct quota_account *q, enum quota_kind kind, uint32_t n,
                                                        bool take)
{
    if (quota_any_limit)
        charge_rows(q, kind, n, take);
    quota_held_charge(q, kind, n, take);
}

/* moat/quota.h's quota_account_take and quota_account_give call these two when the flag is set. */
bool quota_account_take_limited(struct quota_account *q, enum quota_kind kind, uint32_t n)
{
    if (full_row_limited(q, kind, n))
        return false;
    charge_rows(q, kind, n, true);
    quota_held_charge(q, kind, n, true);
    return true;
}

void quota_account_give_limited(struct quota_account *q, enum quota_kind kind, uint32_t n)
{
    charge_rows(q, kind, n, false);
    quota_held_charge(q, kind, n, false);
}

bool quota_take(struct domain *d, enum quota_kind kind, uint32_t n) { return quota_account_take(&d->quota, kind, n); }

void quota_charge(struct domain *d, enum quota_kind kind, uint32_t n) { charge(&d->quota, kind, n, true); }

void quota_give(struct domain *d, enum quota_kind kind, uint32_t n) { quota_account_give(&d->quota, kind, n); }

int quota_domain_start(struct domain *d, const struct domain *creator)
{
    memset(&d->quota, 0, sizeof(d->quota));
    d->quota.has_creator = creator != NULL;
    d->quota.creator_ssidref = creator ? creator->ssidref : 0;
    set_rows(d);
    unsigned full = full_row(&d->quota, QUOTA_DOMAINS, 1);
    if (full) {
        /* One line per refused create: creating is a privileged operation, which a label's create
         * permission already limits to the domains trusted with it. */
        printk("quota: domain '%s' (ssidref 0x%08x) refused: label row %u holds %u of its %u domains\n", d->name,
               d->ssidref, full - 1, used[full - 1][QUOTA_DOMAINS],
               limits[full - 1][QUOTA_DOMAINS]);
        return -XEN_ENOSPC;
    }
    charge(&d->quota, QUOTA_DOMAINS, 1, true);
    return 0;
}

void quota_domain_end(struct domain *d)
{
    quota_give(d, QUOTA_DOMAINS, d->quota.held[QUOTA_DOMAINS]);
    for (unsigned k = 0; k < QUOTA_KINDS; k++)
        if (d->quota.held[k])
            panic("domain %u '%s' dies still charged %u of resource %u", d->domid, d->name, d->quota.held[k], k);
}

/* Adds (sign +1) or takes away (-1) everything d holds to or from the rows of its account. */
static void recharge_rows(const struct domain *d, int sign)
{
    for (unsigned j = 0; j < 2; j++) {
        unsigned r = d->quota.rows[j];
        if (!r)
            continue;
        for (unsigned k = 0; k < QUOTA_KINDS; k++)
            used[r - 1][k] += (uint32_t)sign * d->quota.held[k];
    }
}

void quota_rebuild(void)
{
    /* Only the policy's own label rows can have limits: a walk of those, not of every row (a
     * policy load with few labels stays cheap). */
    quota_any_limit = false;
    uint32_t n = xsm_label_count();
    limit_rows = n < ACM_QUOTA_MAX_ROWS ? n : ACM_QUOTA_MAX_ROWS;
    for (uint32_t row = 0; row < limit_rows; row++)
        for (unsigned k = 0; k < QUOTA_KINDS; k++)
            limits[row][k] = policy_limit(row, (enum quota_kind)k);
    memset(used, 0, used_rows * sizeof(used[0]));
    /* Live domains only: a domain is half built or half destroyed (DOM_DYING, not live, still
     * charged) only inside the create or destroy that holds the hypervisor lock, and a rebuild
     * runs at boot, before any domain, or in a policy load, a hypercall of its own. */
    struct domain *d;
    for (uint64_t w = domain_live_slots(); (d = domain_next_live(&w));) {
        set_rows(d);
        recharge_rows(d, +1);
    }
}

/* Moves everything d holds from one row to another (each as row + 1; 0: not summed). */
static void move_charges(const struct domain *d, unsigned from, unsigned to)
{
    /* Unrolled: five kinds, a load and an update each, not a counted loop around them. */
    const uint32_t *held = d->quota.held;
    if (from) {
#pragma GCC unroll 5
        for (unsigned k = 0; k < QUOTA_KINDS; k++)
            used[from - 1][k] -= held[k];
    }
    if (to) {
#pragma GCC unroll 5
        for (unsigned k = 0; k < QUOTA_KINDS; k++)
            used[to - 1][k] += held[k];
    }
}

void quota_relabel(struct domain *d)
{
    /* Only a row that changes moves: the creator's row stays what it was unless the old or the new
     * label is the creator's own (charged once, in the domain's own row), and a domain the boot
     * manifest made has no creator's row at all. */
    uint16_t before[2] = {d->quota.rows[0], d->quota.rows[1]};
    set_rows(d);
    for (unsigned j = 0; j < 2; j++)
        if (d->quota.rows[j] != before[j])
            move_charges(d, before[j], d->quota.rows[j]);
}

void quota_frame_give(uint16_t owner)
{
    struct domain *d = owner < DOMID_FIRST_RESERVED ? domain_by_id_any(owner) : NULL;
    if (d)
        quota_give(d, QUOTA_FRAMES, 1);
}
