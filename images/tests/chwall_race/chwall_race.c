// SPDX-License-Identifier: MIT
// The Chinese Wall under concurrent creation (tests/smp/test_smp_races.py): two managers, each
// pinned to a CPU of its own, create children of two competing labels at the same moment, round
// after round. Exactly one create may succeed in each round: the other must be refused with
// -EPERM, whichever CPU gets to the hypervisor first. The winner destroys its child and both wait
// until it is gone before the next round.
//   role=a peer=<domid> child=<ssidref> rounds=N   grants the shared page and opens each round
//   role=b peer=<domid> child=<ssidref>            maps it and follows
// Both spin on the shared page at the start of each round, so on two host threads (multi-threaded
// TCG, no icount) the two creates reach the hypervisor together; a random delay of up to a few
// hundred pauses before each create lets either side win. The round's other waits nap.
#include <moat/gnttab.h>
#include <moat/test.h>

#define SHARED_REF 8u

struct round_state {
    uint32_t ready;    /* the follower waits for this round */
    uint32_t go;       /* the leader opened this round */
    uint32_t done[2];  /* side i has its result of this round in result[i] */
    int32_t result[2];
    uint32_t clear[2]; /* side i has destroyed its child (if any) and seen it gone */
};

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));

static uint32_t load(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/*
 * Waits until *p is v, spinning on the shared page: the round's start, where both sides must be
 * running for their creates to meet. With `nap`, after SPIN_NS it naps 100 us at a time instead:
 * the other waits of a round, where one side destroys its child (and, with four CPUs, waits for
 * the child's CPU to give it up) while the other has nothing to do; on a loaded host the spin
 * took the host core the busy side's CPU needed.
 */
#define SPIN_NS (50 * NS_PER_US)
static void wait_for(const uint32_t *p, uint32_t v, bool nap)
{
    uint64_t start = now_ns(), give_up = start + 20 * NS_PER_SEC;
    while (load(p) != v) {
        uint64_t now = now_ns();
        if (now > give_up) {
            xtf_failure("Fail: the peer never reached round %u\n", v);
            xtf_exit();
        }
        if (nap && now - start > SPIN_NS)
            sleep_ns(100 * NS_PER_US);
        else
            __builtin_ia32_pause();
    }
}

static void jitter(void)
{
    for (uint64_t n = __builtin_ia32_rdtsc() & 0x1ff; n; n--)
        __builtin_ia32_pause();
}

static bool wait_gone(domid_t d)
{
    struct moat_domctl_info info;
    uint64_t give_up = now_ns() + 10 * NS_PER_SEC;
    while (domctl_getinfo(d, &info) == 0)
        if (now_ns() > give_up)
            return false;
        else
            sleep_ns(100 * NS_PER_US);
    return true;
}

static void race(struct round_state *s, unsigned me, uint32_t rounds, uint32_t ssidref)
{
    int img = find_image("sleeper");
    xtf_assert(img >= 0, "image 'sleeper' among the modules");
    unsigned wins = 0, bad = 0;
    for (uint32_t r = 1; r <= rounds; r++) {
        if (me == 0) {
            wait_for(&s->ready, r, false);
            store(&s->go, r);
        } else {
            store(&s->ready, r);
            wait_for(&s->go, r, false);
        }
        jitter();
        struct domctl_create_args a = { .image = (uint32_t)img, .memory_kib = 256, .ssidref = ssidref,
                                        .name = me ? "beta-child" : "alpha-child", .cmdline = "child" };
        domid_t child = DOMID_INVALID;
        long rc = domctl_create(&a, &child);
        __atomic_store_n(&s->result[me], (int32_t)rc, __ATOMIC_RELAXED);
        store(&s->done[me], r);
        wait_for(&s->done[!me], r, true);
        long other = __atomic_load_n(&s->result[!me], __ATOMIC_RELAXED);
        /* Exactly one create succeeds; the other is refused by the Chinese Wall. */
        if (!((rc == 0 && other == -XEN_EPERM) || (rc == -XEN_EPERM && other == 0))) {
            if (bad++ < 5)
                xtf_failure("Fail: round %u: this side's create returned %ld, the other's %ld\n", r, rc, other);
        }
        if (rc == 0) {
            wins++;
            xtf_check(domctl_destroy(child) == 0, "destroy %u", child);
            xtf_check(wait_gone(child), "child %u gone", child);
        }
        store(&s->clear[me], r);
        wait_for(&s->clear[!me], r, true);
    }
    printf("chwall race: %u rounds, %u won here, %u wrong\n", rounds, wins, bad);
}

void test_main(void)
{
    domid_t peer = (domid_t)cmdline_ulong("peer", DOMID_INVALID);
    uint32_t ssidref = (uint32_t)cmdline_ulong("child", 0);
    xtf_assert(ssidref != 0, "child=<ssidref>");
    if (cmdline_has("role=a")) {
        uint32_t rounds = (uint32_t)cmdline_ulong("rounds", 100);
        xtf_assert(gnttab_setup(table, 1, 1) == GNTST_okay, "setup_table");
        xtf_assert(gnttab_claim_ref(SHARED_REF), "ref");
        gnttab_grant_ref(SHARED_REF, peer, gnttab_pfn_of(page), false);
        struct round_state *s = (struct round_state *)page;
        store(&s->go, 0);
        race(s, 0, rounds, ssidref);
        while (gnttab_query_size(peer, NULL, NULL) != GNTST_bad_domain)
            sleep_ns(NS_PER_MS);
        xtf_check(gnttab_end_access_free(SHARED_REF), "the shared page is still mapped");
    } else if (cmdline_has("role=b")) {
        uint64_t va = gnttab_va_alloc();
        grant_handle_t h;
        while (gnttab_map(peer, SHARED_REF, va, false, &h) != GNTST_okay)
            sleep_ns(NS_PER_MS);
        uint32_t rounds = (uint32_t)cmdline_ulong("rounds", 100);
        race((struct round_state *)va, 1, rounds, ssidref);
        xtf_check(gnttab_unmap(h, va) == GNTST_okay, "unmap");
    } else {
        xtf_error("Error: role=a|b\n");
    }
    if (xtf_result() == XTF_RUNNING)
        xtf_success(NULL);
}
