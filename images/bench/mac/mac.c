// SPDX-License-Identifier: MIT
// MAC costs (issue 7), run under two policies by tests/bench/mac_null.toml (moat's default: every
// label shares one STE type) and mac_demo.toml (docs/examples/policies/demo.toml, label system).
// One privileged domain uses loopback interdomain channels (both ends its own), so the STE hook
// runs with this domain as subject and object:
//   mac_evtchn_send              send on a bound, masked port (the hot path: no MAC code)
//   mac_alloc_unbound_hit/_miss  alloc_unbound with the decision cached / right after the cache
//   mac_bind_hit/_miss           was purged (by reloading the live policy), likewise for
//                                bind_interdomain
//   mac_map_hit/_miss            grant map (of our own grant: the STE hook runs all the same)
//                                with the decision cached / just purged
//   mac_mapped_page_read_4k      reading a mapped 4 KiB page: plain loads, no MAC code at all
//   mac_setpolicy_<mode>_<n>     reloading the live policy (getpolicy's blob) with n live
//                                bindings, mode refuse (Xen's) or revoke; nothing is violated, so
//                                this is the cost of checking every binding
// Reloading the same policy changes nothing but purges every decision cache.
#include <moat/bench.h>
#include <moat/evtchn.h>
#include <moat/gnttab.h>
#include <moat/test.h>
#include <public/xsm/acm_ops.h>

#define WARMUP 10u
#define SAMPLES 100u
#define LOAD_WARMUP 1u
#define LOAD_SAMPLES 5u
#define MAX_BINDINGS 1000u

static uint64_t samples[SAMPLES];
static uint64_t hit[SAMPLES], miss[SAMPLES];
static uint8_t blob[64 * 1024];
static uint32_t blob_len;
static evtchn_port_t ports[2 * MAX_BINDINGS];

static long acm_op(struct acm_op *op)
{
    op->interface_version = ACM_INTERFACE_VERSION;
    return HYPERVISOR_xsm_op(op);
}

static long get_policy(void)
{
    struct acm_op op = { .cmd = ACMOP_getpolicy };
    op.u.getpolicy.buf = (uint64_t)(unsigned long)blob;
    op.u.getpolicy.size = sizeof(blob);
    long rc = acm_op(&op);
    blob_len = op.u.getpolicy.len;
    return rc;
}

static struct acm_op setpolicy_op(uint32_t mode)
{
    struct acm_op op = { .cmd = ACMOP_setpolicy };
    op.u.setpolicy.buf = (uint64_t)(unsigned long)blob;
    op.u.setpolicy.size = blob_len;
    op.u.setpolicy.mode = mode;
    return op;
}

// Reloads the live policy: no change, but every decision cache is purged.
static void purge(void)
{
    struct acm_op op = setpolicy_op(ACM_MODE_REFUSE);
    long rc = acm_op(&op);
    if (rc != 0) {
        xtf_error("Error: setpolicy of the live policy returned %ld\n", rc);
        xtf_exit();
    }
}

static evtchn_port_t must(long rc, const char *what)
{
    if (rc <= 0) {
        xtf_error("Error: %s returned %ld\n", what, rc);
        xtf_exit();
    }
    return (evtchn_port_t)rc;
}

static void bench_send(void)
{
    evtchn_port_t a = must(evtchn_alloc_unbound(DOMID_SELF), "alloc_unbound");
    evtchn_port_t b = must(evtchn_bind_interdomain(DOMID_SELF, a), "bind_interdomain");
    evtchn_port_mask(a);
    evtchn_port_mask(b);
    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        evtchn_port_clear(a);  // a pending port makes send return early: not the common case
        uint64_t t0 = bench_tsc();
        long rc = evtchn_send(b);
        uint64_t t1 = bench_tsc();
        if (rc != 0) {
            xtf_error("Error: send returned %ld\n", rc);
            xtf_exit();
        }
        if (i >= WARMUP)
            samples[i - WARMUP] = bench_net(t1 - t0);
    }
    evtchn_close(b);
    evtchn_close(a);
    bench_report("mac_evtchn_send", samples, SAMPLES, "instructions");
}

static void bench_bind(void)
{
    uint64_t t0, t1;
    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        unsigned s = i - WARMUP;
        purge();
        t0 = bench_tsc();
        evtchn_port_t a = must(evtchn_alloc_unbound(DOMID_SELF), "alloc_unbound");
        t1 = bench_tsc();
        if (i >= WARMUP)
            miss[s] = bench_net(t1 - t0);
        t0 = bench_tsc();
        evtchn_port_t a2 = must(evtchn_alloc_unbound(DOMID_SELF), "alloc_unbound");
        t1 = bench_tsc();
        if (i >= WARMUP)
            hit[s] = bench_net(t1 - t0);
        evtchn_close(a2);
        evtchn_close(a);
    }
    bench_report("mac_alloc_unbound_miss", miss, SAMPLES, "instructions");
    bench_report("mac_alloc_unbound_hit", hit, SAMPLES, "instructions");

    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        unsigned s = i - WARMUP;
        evtchn_port_t a = must(evtchn_alloc_unbound(DOMID_SELF), "alloc_unbound");
        evtchn_port_t a2 = must(evtchn_alloc_unbound(DOMID_SELF), "alloc_unbound");
        purge();
        t0 = bench_tsc();
        evtchn_port_t b = must(evtchn_bind_interdomain(DOMID_SELF, a), "bind_interdomain");
        t1 = bench_tsc();
        if (i >= WARMUP)
            miss[s] = bench_net(t1 - t0);
        t0 = bench_tsc();
        evtchn_port_t b2 = must(evtchn_bind_interdomain(DOMID_SELF, a2), "bind_interdomain");
        t1 = bench_tsc();
        if (i >= WARMUP)
            hit[s] = bench_net(t1 - t0);
        evtchn_close(b2);
        evtchn_close(b);
        evtchn_close(a2);
        evtchn_close(a);
    }
    bench_report("mac_bind_miss", miss, SAMPLES, "instructions");
    bench_report("mac_bind_hit", hit, SAMPLES, "instructions");
}

// Adds loopback bindings until there are n live ones (two ports each).
static unsigned bindings;
static void bind_up_to(unsigned n)
{
    for (; bindings < n; bindings++) {
        ports[2 * bindings] = must(evtchn_alloc_unbound(DOMID_SELF), "alloc_unbound");
        ports[2 * bindings + 1] = must(evtchn_bind_interdomain(DOMID_SELF, ports[2 * bindings]),
                                       "bind_interdomain");
    }
}

static void bench_load(unsigned n)
{
    static const struct { uint32_t mode; const char *name; } modes[] = {
        { ACM_MODE_REFUSE, "refuse" }, { ACM_MODE_REVOKE, "revoke" } };
    char figure[48];

    bind_up_to(n);
    for (unsigned m = 0; m < ARRAY_SIZE(modes); m++) {
        for (unsigned i = 0; i < LOAD_WARMUP + LOAD_SAMPLES; i++) {
            struct acm_op op = setpolicy_op(modes[m].mode);
            uint64_t t0 = bench_tsc();
            long rc = acm_op(&op);
            uint64_t t1 = bench_tsc();
            if (rc != 0 || op.u.setpolicy.revoked_evtchn != 0) {
                xtf_error("Error: setpolicy (%s, %u bindings) returned %ld, revoked %u\n",
                          modes[m].name, n, rc, op.u.setpolicy.revoked_evtchn);
                xtf_exit();
            }
            if (i >= LOAD_WARMUP)
                samples[i - LOAD_WARMUP] = bench_net(t1 - t0);
        }
        snprintf(figure, sizeof(figure), "mac_setpolicy_%s_%u", modes[m].name, n);
        bench_report(figure, samples, LOAD_SAMPLES, "instructions");
    }
}

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t shared[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));

static void bench_map(void)
{
    if (gnttab_setup(table, 1, 1) != GNTST_okay) {
        xtf_error("Error: grant table setup failed\n");
        xtf_exit();
    }
    for (unsigned i = 0; i < GUEST_PAGE_SIZE; i++)
        shared[i] = (uint8_t)i;
    grant_ref_t ref = gnttab_grant_access(start_info->domid, shared, true);
    uint64_t va = gnttab_va_alloc();
    grant_handle_t h;
    for (unsigned s = 0; s < WARMUP + SAMPLES; s++) {
        purge();
        uint64_t t0 = bench_tsc();
        int16_t st = gnttab_map(start_info->domid, ref, va, true, &h);
        uint64_t t1 = bench_tsc();
        if (st != GNTST_okay || gnttab_unmap(h, va) != GNTST_okay) {
            xtf_error("Error: map/unmap failed: %d\n", st);
            xtf_exit();
        }
        if (s >= WARMUP)
            miss[s - WARMUP] = bench_net(t1 - t0);
        t0 = bench_tsc();
        st = gnttab_map(start_info->domid, ref, va, true, &h);
        t1 = bench_tsc();
        if (s >= WARMUP)
            hit[s - WARMUP] = bench_net(t1 - t0);
        /* The hot path: the mapped page is plain memory to us; the last iteration keeps it. */
        uint64_t sum = 0;
        t0 = bench_tsc();
        for (unsigned w = 0; w < GUEST_PAGE_SIZE / 8; w++)
            sum += ((volatile const uint64_t *)va)[w];
        t1 = bench_tsc();
        if (sum == 0)
            xtf_error("Error: the mapped page reads as zeros\n");
        if (s >= WARMUP)
            samples[s - WARMUP] = bench_net(t1 - t0);
        if (gnttab_unmap(h, va) != GNTST_okay) {
            xtf_error("Error: unmap failed\n");
            xtf_exit();
        }
    }
    bench_report("mac_map_miss", miss, SAMPLES, "instructions");
    bench_report("mac_map_hit", hit, SAMPLES, "instructions");
    bench_report("mac_mapped_page_read_4k", samples, SAMPLES, "instructions");
    gnttab_va_free(va);
    gnttab_end_access_free(ref);
}

void test_main(void)
{
    long rc = get_policy();
    if (rc != 0) {
        xtf_error("Error: getpolicy returned %ld (len %u)\n", rc, blob_len);
        return;
    }
    bench_overhead();
    bench_send();
    bench_bind();
    bench_map();
    bench_load(10);
    bench_load(100);
    bench_load(MAX_BINDINGS);
    xtf_success(NULL);
}
