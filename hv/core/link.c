// SPDX-License-Identifier: MIT
// Links between boot domains (moat/link.h, docs/networking.md). A link is a rendezvous, not a
// resource: publishing it shares nothing, so it needs no permission here. What the ends may do with
// it is decided when they bind a channel or map a page, by the MAC hooks, exactly as for any other
// sharing; a link the policy forbids is still published (vlans 0) so that both ends find out.
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/lib.h>
#include <moat/link.h>
#include <moat/xsm.h>
#include <public/hv.h>

/* Each published end: which domain (incarnation: a reused domid is someone else) and which slot. */
struct link_end {
    domid_t domid;
    uint32_t incarnation;
    uint8_t slot;
};

static struct link_end ends[MANIFEST_MAX_LINKS][2];
static unsigned published;

static bool mac_ok(const uint8_t *mac)
{
    bool zero = true;
    for (unsigned i = 0; i < LINK_MAC_LEN; i++)
        zero = zero && mac[i] == 0;
    return !zero && !(mac[0] & 1); /* bit 0 of the first octet: group (multicast/broadcast) address */
}

const char *link_check(const struct manifest_link *links, unsigned n, unsigned domain_count)
{
    static uint8_t per_domain[MANIFEST_MAX_DOMAINS];
    if (n > MANIFEST_MAX_LINKS)
        return "link count out of range";
    memset(per_domain, 0, sizeof(per_domain));
    for (unsigned i = 0; i < n; i++) {
        const struct manifest_link *l = &links[i];
        if (l->granter >= domain_count || l->mapper >= domain_count || l->granter == l->mapper)
            return "a link names a domain record that does not exist, or the same one twice";
        if (l->flags || l->reserved)
            return "a link has unknown flags";
        if (!mac_ok(l->granter_mac) || !mac_ok(l->mapper_mac) ||
            memcmp(l->granter_mac, l->mapper_mac, LINK_MAC_LEN) == 0)
            return "a link's MAC addresses are not two different unicast addresses";
        if (++per_domain[l->granter] > START_MAX_LINKS || ++per_domain[l->mapper] > START_MAX_LINKS)
            return "a domain is an end of more than 16 links";
    }
    return NULL;
}

static struct domain *end_domain(const struct link_end *e)
{
    struct domain *d = domain_by_id(e->domid);
    return d && d->incarnation == e->incarnation ? d : NULL;
}

static struct start_link *slot_of(struct domain *d, unsigned slot)
{
    struct start_info *si = mfn_to_virt(d->start_info_mfn);
    return &si->links[slot];
}

static void fill(struct start_link *sl, uint16_t index, uint8_t role, const struct domain *peer, uint64_t vlans,
                 uint32_t first_ref, const uint8_t *mac, const uint8_t *peer_mac)
{
    sl->peer = peer->domid;
    sl->role = role;
    sl->index = index;
    sl->vlans = vlans;
    sl->first_ref = first_ref;
    memcpy(sl->mac, mac, LINK_MAC_LEN);
    memcpy(sl->peer_mac, peer_mac, LINK_MAC_LEN);
    strlcpy(sl->peer_name, peer->name, sizeof(sl->peer_name));
}

void link_publish(const struct manifest_link *links, unsigned n, struct domain *const *built)
{
    static uint8_t granted[MANIFEST_MAX_DOMAINS];
    memset(granted, 0, sizeof(granted));
    published = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct manifest_link *l = &links[i];
        struct domain *g = built[l->granter], *m = built[l->mapper];
        if (!g || !m) {
            printk("link %u: not published: an end was not built\n", i);
            continue;
        }
        struct start_info *gi = mfn_to_virt(g->start_info_mfn), *mi = mfn_to_virt(m->start_info_mfn);
        uint32_t first_ref = LINK_REF_BASE + granted[l->granter]++ * LINK_REF_STRIDE;
        uint64_t vlans = xsm_ste_shared_types(g, m);
        ends[published][0] = (struct link_end){g->domid, g->incarnation, (uint8_t)gi->nr_links};
        ends[published][1] = (struct link_end){m->domid, m->incarnation, (uint8_t)mi->nr_links};
        published++;
        fill(&gi->links[gi->nr_links++], (uint16_t)i, LINK_ROLE_GRANTER, m, vlans, first_ref, l->granter_mac,
             l->mapper_mac);
        fill(&mi->links[mi->nr_links++], (uint16_t)i, LINK_ROLE_MAPPER, g, vlans, first_ref, l->mapper_mac,
             l->granter_mac);
        if (vlans)
            printk("link %u: %u:%s <-> %u:%s, shared STE types 0x%lx\n", i, g->domid, g->name, m->domid, m->name,
                   vlans);
        else
            printk("link %u: %u:%s <-> %u:%s: their labels share no STE type; the MAC will refuse it\n", i,
                   g->domid, g->name, m->domid, m->name);
    }
}

void link_policy_changed(void)
{
    for (unsigned i = 0; i < published; i++) {
        struct domain *a = end_domain(&ends[i][0]), *b = end_domain(&ends[i][1]);
        if (!a || !b)
            continue; /* an end has gone: the other's record stays as it was, with its peer dead */
        uint64_t vlans = xsm_ste_shared_types(a, b);
        __atomic_store_n(&slot_of(a, ends[i][0].slot)->vlans, vlans, __ATOMIC_RELEASE);
        __atomic_store_n(&slot_of(b, ends[i][1].slot)->vlans, vlans, __ATOMIC_RELEASE);
    }
}
