// SPDX-License-Identifier: MIT
// Covert-channel mitigations (moat/mitigate.h, docs/covert-channels.md): unguessable domain ids
// for created domains, and per-label pools of frames and domain-table entries.
#include <lib/sha256.h>
#include <moat/arch.h>
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/mitigate.h>
#include <moat/random.h>
#include <moat/shutdown.h>
#include <moat/xsm.h>
#include <public/xsm/acm.h>

uint32_t mitigations;

/* ---- domid ---- */

static uint8_t id_key[32];

static void key_init(void)
{
    /* RDRAND where there is one; the TSC and the boot's addresses only stir it (alone they would
     * be guessable). Hashed, so a weak source cannot show through the ids. */
    /* Read as bytes by sha256: cppcheck does not see that use. */
    struct {
        uint64_t rnd[4];
        /* cppcheck-suppress unusedStructMember ; hashed as bytes */
        uint64_t tsc;
        /* cppcheck-suppress unusedStructMember ; hashed as bytes */
        const void *where;
    } seed = {.tsc = arch_cycles(), .where = &seed};
    bool have = true;
    for (unsigned i = 0; i < 4; i++)
        have = arch_random_u64(&seed.rnd[i]) && have;
    if (!have)
        printk("mitigate: no RDRAND: domain ids are keyed by the TSC only (guessable)\n");
    sha256(&seed, sizeof(seed), id_key);
    memset(&seed, 0, sizeof(seed));
}

domid_t mitigate_child_id(const struct domain *creator, uint32_t n)
{
    /* A keyed hash of (creator, its incarnation, n): nothing another label does changes it. */
    struct {
        uint8_t key[32];
        /* cppcheck-suppress unusedStructMember ; hashed as bytes */
        uint32_t incarnation;
        /* cppcheck-suppress unusedStructMember ; hashed as bytes */
        uint32_t n;
        /* cppcheck-suppress unusedStructMember ; hashed as bytes */
        domid_t creator;
    } in = {.incarnation = creator->incarnation, .n = n, .creator = creator->domid};
    memcpy(in.key, id_key, sizeof(in.key));
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256(&in, sizeof(in), digest);
    memset(&in, 0, sizeof(in));
    uint32_t v = (uint32_t)digest[0] | (uint32_t)digest[1] << 8 | (uint32_t)digest[2] << 16 | (uint32_t)digest[3] << 24;
    return (domid_t)(MOAT_MAX_DOMAINS + v % (DOMID_FIRST_RESERVED - MOAT_MAX_DOMAINS));
}

/* ---- pools ---- */

/* Frames kept out of every pool for the hypervisor's own later needs (a policy loaded at run
 * time: up to 4 MiB and its page tables), so that those never eat into a label's share. */
#define POOL_RESERVE_FRAMES 1152
/* Pools are indexed by policy row, stored in a frame's one-byte pool field as row + 1. */
#define POOL_MAX_ROWS MOAT_MAX_DOMAINS

static uint64_t pool_frames; /* frames shared out among the labels */
static uint64_t pool_used[POOL_MAX_ROWS];

static unsigned rows(void) { return xsm_label_count(); }

static uint64_t frame_share(void) { return rows() ? pool_frames / rows() : 0; }

uint8_t pool_charge_label(uint16_t owner)
{
    if (owner >= DOMID_FIRST_RESERVED)
        return POOL_NONE;
    const struct domain *d = domain_by_id_any(owner);
    if (!d)
        return POOL_NONE;
    uint32_t row = ACM_SSIDREF_PRIMARY(d->ssidref);
    if (row >= POOL_MAX_ROWS || row >= rows() || pool_used[row] >= frame_share())
        return POOL_FULL;
    pool_used[row]++;
    return (uint8_t)(row + 1);
}

void pool_uncharge_label(uint8_t pool)
{
    if (pool != POOL_FULL && pool_used[pool - 1])
        pool_used[pool - 1]--;
}

bool pool_slot_available(uint32_t ssidref, const struct domain *self)
{
    if (!mitigated(MITIGATE_POOLS))
        return true;
    uint32_t row = ACM_SSIDREF_PRIMARY(ssidref);
    unsigned share = rows() ? MOAT_MAX_DOMAINS / rows() : 0, used = 0;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++) {
        const struct domain *d = domain_table(i);
        if (d != self && d->state != DOM_FREE && ACM_SSIDREF_PRIMARY(d->ssidref) == row)
            used++;
    }
    return used < share;
}

/* ---- the command line ---- */

void mitigate_init(void)
{
    char words[64];
    if (!cmdline_get("mitigate", words, sizeof(words)))
        return;
    for (char *w = words, *next; *w; w = next) {
        next = w;
        while (*next && *next != ',')
            next++;
        if (*next)
            *next++ = '\0';
        if (!strcmp(w, "domid"))
            mitigations |= MITIGATE_DOMID;
        else if (!strcmp(w, "pools"))
            mitigations |= MITIGATE_POOLS;
        else if (!strcmp(w, "all"))
            mitigations |= MITIGATE_DOMID | MITIGATE_POOLS;
        else {
            printk("moat: mitigate=: unknown mitigation '%s' (known: domid, pools, all)\n", w);
            machine_stop(STOP_FAILURE);
        }
    }
    if (mitigated(MITIGATE_DOMID))
        key_init();
    if (mitigated(MITIGATE_POOLS)) {
        if (rows() > POOL_MAX_ROWS) {
            printk("moat: mitigate=pools: the policy has %u labels; pools work for at most %u\n", rows(),
                   POOL_MAX_ROWS);
            machine_stop(STOP_FAILURE);
        }
        struct frame_stats s;
        frame_get_stats(&s);
        pool_frames = s.free > 2 * POOL_RESERVE_FRAMES ? s.free - POOL_RESERVE_FRAMES : s.free / 2;
    }
    printk("mitigate:%s%s", mitigated(MITIGATE_DOMID) ? " domid" : "", mitigated(MITIGATE_POOLS) ? " pools" : "");
    if (mitigated(MITIGATE_POOLS))
        printk(" (%u labels: %lu frames and %u domains each)", rows(), frame_share(), MOAT_MAX_DOMAINS / rows());
    printk("\n");
}
