// SPDX-License-Identifier: MIT
// A domain with `vcpus = n` (tests/vcpu/): the VCPUOP and bind_vcpu error paths first, then every
// vCPU up (vcpu_start), an event passed round the ring of vCPUs (an IPI port bound to each), a
// port moved to another vCPU with bind_vcpu, and a counter shared under a spinlock: each vCPU
// adds `incs` with a read, a pause and a write, so without the lock (`nolock=1`) increments are
// lost whenever two vCPUs run at once; at the end, the last vCPU takes itself down. Only vCPU 0
// prints. With `spare=1` the domain has one vCPU more than the ring uses: the boundaries of
// VCPUOP_initialise's checks (a stack at the very top of RAM, no event callback) are accepted on
// it, and it stays down.
#include <moat/evtchn.h>
#include <moat/guest.h>
#include <moat/spinlock.h>
#include <moat/test.h>
#include <moat/vcpu.h>

static unsigned nv, have, rounds, incs;
static bool nolock;
static evtchn_port_t ring[MOAT_MAX_VCPUS];
static unsigned handled[MOAT_MAX_VCPUS], counted[MOAT_MAX_VCPUS], wrong_vcpu, hops, ready;
static unsigned moved_on = ~0u;
static spinlock_t lock = SPINLOCK_INIT;
static volatile uint64_t counter;
static unsigned down_self = ~0u; // the vCPU that takes itself down when its next event comes
static unsigned came_back;        // it returned from its VCPUOP_down: it must not, while down

// The ring: an event on ring[me] arrives on vCPU me, which passes it on to the next.
static void pass_on(evtchn_port_t port, void *data)
{
    (void)port;
    unsigned me = (unsigned)(uintptr_t)data;
    if (vcpu_self() != me)
        __atomic_add_fetch(&wrong_vcpu, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&handled[me], 1, __ATOMIC_SEQ_CST);
    if (__atomic_add_fetch(&hops, 1, __ATOMIC_SEQ_CST) < rounds * nv)
        evtchn_send(ring[(me + 1) % nv]);
}

static void note_vcpu(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    __atomic_store_n(&moved_on, vcpu_self(), __ATOMIC_SEQ_CST);
}

// Read, wait, write: the window in which another vCPU's increment is lost unless the lock holds.
static void count(unsigned me)
{
    for (unsigned i = 0; i < incs; i++) {
        if (!nolock)
            spin_lock(&lock);
        uint64_t v = counter;
        for (unsigned k = 0; k < 20; k++)
            __asm__ volatile("pause");
        counter = v + 1;
        if (!nolock)
            spin_unlock(&lock);
    }
    __atomic_store_n(&counted[me], incs, __ATOMIC_SEQ_CST);
}

// The pollers: vCPU 0 pokes each other vCPU (an IPI port of its own, a handler that does
// nothing), which then polls the masked port poll_port until it is pending; one event on it must
// wake them all at once (any event of a domain wakes every vCPU of it that polls).
static evtchn_port_t poke[MOAT_MAX_VCPUS];
static volatile evtchn_port_t poll_port;
static unsigned polling, poll_woken, polled[MOAT_MAX_VCPUS];

static void poked(evtchn_port_t port, void *data) { (void)port, (void)data; }

static void poll_once(unsigned me)
{
    evtchn_port_t p = poll_port;
    if (!p || polled[me])
        return;
    polled[me] = 1;
    __atomic_add_fetch(&polling, 1, __ATOMIC_SEQ_CST);
    // Woken by another event of the domain (another vCPU's poke): look again, and sleep again.
    while (!evtchn_port_pending(p))
        sched_poll(&p, 1, 0);
    __atomic_add_fetch(&poll_woken, 1, __ATOMIC_SEQ_CST);
}

static void secondary(unsigned me)
{
    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
    count(me);
    for (;;) {
        sched_block(); // events (the ring) are handled on the way back; vCPU 0 brings us down
        poll_once(me);
        if (__atomic_load_n(&down_self, __ATOMIC_SEQ_CST) == me) {
            vcpu_down(me); // or we go down ourselves: the hypervisor switches away at once
            __atomic_store_n(&came_back, 1, __ATOMIC_SEQ_CST);
        }
    }
}

static void check_errors(void)
{
    struct vcpu_guest_context ctx = { .rip = 0, .rsp = 0 };
    xtf_check_eq(vcpu_is_up(0), 1);
    xtf_check_eq(vcpu_is_up(1), 0);
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), -XEN_EINVAL); // not initialised
    xtf_check_eq(vcpu_is_up(have), -XEN_ENOENT);                        // a vCPU we do not have
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, have, &ctx), -XEN_ENOENT);
    xtf_check_eq(vcpu_is_up(MOAT_MAX_VCPUS), -XEN_EINVAL);              // beyond any domain's
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_up, 0xffffffffffffffffUL, NULL), -XEN_EINVAL);
    xtf_check_eq(HYPERVISOR_vcpu_op(99, 1, NULL), -XEN_ENOSYS);
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &ctx), -XEN_EINVAL); // rip, rsp not in RAM
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, (void *)8), -XEN_EFAULT);
    // Each check alone: a good entry with a stack just outside RAM at either end, or a callback
    // outside RAM. A stack pointer is the top of what the vCPU pushes below it: GUEST_RAM_VA
    // itself is outside, the top of RAM inside.
    uint64_t top = GUEST_RAM_VA + start_info->nr_pages * GUEST_PAGE_SIZE;
    struct vcpu_guest_context bad = { .rip = (uintptr_t)secondary, .rsp = GUEST_RAM_VA };
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &bad), -XEN_EINVAL);
    bad.rsp = top + 8;
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &bad), -XEN_EINVAL);
    bad.rsp = top;
    bad.callback_rip = top;
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &bad), -XEN_EINVAL);
    bad.callback_rip = GUEST_RAM_VA - 1;
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &bad), -XEN_EINVAL);
    bad.rip = top;
    bad.callback_rip = 0;
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &bad), -XEN_EINVAL);
    if (have > nv) {
        // The spare: the top of RAM and no callback are accepted; it is never brought up.
        struct vcpu_guest_context edge = { .rip = top - 1, .rsp = top, .callback_rip = 0 };
        xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, nv, &edge), 0);
        xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, nv, &edge), -XEN_EEXIST);
        xtf_check_eq(vcpu_is_up(nv), 0);
        printf("spare vcpu %u: initialised at the edges of RAM, left down\n", nv);
    }
    xtf_check_eq(vcpu_is_up(1), 0);
    xtf_check_eq(evtchn_bind_ipi(have), -XEN_ENOENT);
    xtf_check_eq(evtchn_bind_virq(VIRQ_TIMER, have), -XEN_ENOENT);
    xtf_check_eq(evtchn_bind_virq(VIRQ_DOM_EXC, 1), -XEN_EINVAL); // a global VIRQ: vCPU 0 only
    long port = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(port > 0, "alloc_unbound: %ld", port);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)port, have), -XEN_ENOENT);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)port, MOAT_MAX_VCPUS), -XEN_ENOENT);
    xtf_check_eq(evtchn_bind_vcpu(0, 1), -XEN_EINVAL);
    long ipi = evtchn_bind_ipi(1);
    xtf_assert(ipi > 0, "bind_ipi(1): %ld", ipi);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)ipi, 0), -XEN_EINVAL); // an IPI stays on its vCPU
    long timer = evtchn_bind_virq(VIRQ_TIMER, 1);
    xtf_assert(timer > 0, "bind_virq(TIMER, 1): %ld", timer);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)timer, 0), -XEN_EINVAL); // a per-vCPU VIRQ too
    struct evtchn_status st;
    xtf_check_eq(evtchn_status(DOMID_SELF, (evtchn_port_t)ipi, &st), 0);
    xtf_check_eq(st.vcpu, 1);
    xtf_check_eq(evtchn_close((evtchn_port_t)ipi), 0);
    xtf_check_eq(evtchn_close((evtchn_port_t)timer), 0);
    // A masked, pending port moved to vCPU 1 raises nothing there: its upcall waits for the unmask.
    long l = evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)port);
    xtf_assert(l > 0, "loopback bind: %ld", l);
    evtchn_port_mask((evtchn_port_t)port);
    xtf_check_eq(evtchn_send((evtchn_port_t)l), 0);
    xtf_check(evtchn_port_pending((evtchn_port_t)port), "the loopback send did not make port %ld pending", port);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)port, 1), 0);
    const struct vcpu_info *v1 = &shared_info->vcpu_info[1];
    xtf_check(!v1->evtchn_upcall_pending && !v1->evtchn_pending_sel,
              "a masked port moved to vCPU 1 raised its upcall (pending %u, sel %#lx)", v1->evtchn_upcall_pending,
              (unsigned long)v1->evtchn_pending_sel);
    evtchn_port_clear((evtchn_port_t)port);
    xtf_check_eq(evtchn_close((evtchn_port_t)l), 0);
    xtf_check_eq(evtchn_close((evtchn_port_t)port), 0);
}

static void wait_until(const unsigned *what, unsigned want)
{
    uint64_t deadline = now_ns() + 20000000000ULL;
    while (__atomic_load_n(what, __ATOMIC_SEQ_CST) < want && now_ns() < deadline)
        sched_yield();
}

void test_main(void)
{
    nv = (unsigned)cmdline_ulong("vcpus", 4);
    rounds = (unsigned)cmdline_ulong("rounds", 50);
    incs = (unsigned)cmdline_ulong("incs", 2000);
    nolock = cmdline_ulong("nolock", 0) != 0;
    have = nv + (cmdline_ulong("spare", 0) != 0);
    xtf_assert(nv >= 2 && have <= MOAT_MAX_VCPUS, "vcpus=%u", nv);
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    check_errors();

    for (unsigned i = 0; i < nv; i++) {
        long p = evtchn_bind_ipi(i);
        xtf_assert(p > 0, "bind_ipi(%u): %ld", i, p);
        ring[i] = (evtchn_port_t)p;
        evtchn_set_handler(ring[i], pass_on, (void *)(uintptr_t)i);
    }
    for (unsigned i = 1; i < nv; i++)
        xtf_assert(vcpu_start(i, secondary) == 0, "vcpu_start(%u) failed", i);
    struct vcpu_guest_context ctx = { .rip = 0 };
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &ctx), -XEN_EEXIST);
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), 0); // already up: nothing to do
    for (unsigned i = 1; i < nv; i++)
        xtf_check_eq(vcpu_is_up(i), 1);
    wait_until(&ready, nv - 1);

    // A loopback channel whose receiving end is moved to the last vCPU.
    long u = evtchn_alloc_unbound(DOMID_SELF);
    long l = u > 0 ? evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)u) : u;
    xtf_assert(u > 0 && l > 0, "loopback channel: %ld %ld", u, l);
    evtchn_set_handler((evtchn_port_t)u, note_vcpu, NULL);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)u, nv - 1), 0);
    struct evtchn_status st;
    xtf_check_eq(evtchn_status(DOMID_SELF, (evtchn_port_t)u, &st), 0);
    xtf_check_eq(st.vcpu, nv - 1);
    evtchn_send((evtchn_port_t)l);

    evtchn_send(ring[1]); // the token starts round the ring
    count(0);
    wait_until(&hops, rounds * nv);
    for (unsigned i = 1; i < nv; i++)
        wait_until(&counted[i], incs);
    uint64_t deadline = now_ns() + 5000000000ULL;
    while (__atomic_load_n(&moved_on, __ATOMIC_SEQ_CST) == ~0u && now_ns() < deadline)
        sched_yield();

    printf("ring: %u hops, %u on a wrong vcpu\n", hops, wrong_vcpu);
    for (unsigned i = 0; i < nv; i++)
        printf("vcpu %u: %u events, %u increments\n", i, handled[i], counted[i]);
    printf("counter: %lu of %lu%s\n", (unsigned long)counter, (unsigned long)nv * incs, nolock ? " (no lock)" : "");
    printf("moved port: handled on vcpu %u\n", moved_on);
    xtf_check_eq(hops, rounds * nv);
    xtf_check_eq(wrong_vcpu, 0);
    for (unsigned i = 0; i < nv; i++)
        xtf_check_eq(handled[i], rounds);
    xtf_check_eq(moved_on, nv - 1);
    if (!nolock)
        xtf_check_eq(counter, (uint64_t)nv * incs);

    // Every other vCPU polls poll_port; once all are asleep in their polls (20 ms after the last
    // said it would), one event on it. A wake-up of only one poller leaves the others asleep for good.
    long pu = evtchn_alloc_unbound(DOMID_SELF);
    long pl = pu > 0 ? evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)pu) : pu;
    xtf_assert(pu > 0 && pl > 0, "poll channel: %ld %ld", pu, pl);
    evtchn_port_mask((evtchn_port_t)pu);
    evtchn_port_clear((evtchn_port_t)pu);
    for (unsigned i = 1; i < nv; i++) {
        long p = evtchn_bind_ipi(i);
        xtf_assert(p > 0, "bind_ipi(%u): %ld", i, p);
        poke[i] = (evtchn_port_t)p;
        evtchn_set_handler(poke[i], poked, NULL);
    }
    poll_port = (evtchn_port_t)pu;
    for (unsigned i = 1; i < nv; i++)
        evtchn_send(poke[i]);
    wait_until(&polling, nv - 1);
    uint64_t asleep = now_ns() + 20000000ULL;
    while (now_ns() < asleep)
        sched_yield();
    xtf_check_eq(evtchn_send((evtchn_port_t)pl), 0);
    wait_until(&poll_woken, nv - 1);
    printf("pollers: %u of %u woken by one event\n", poll_woken, nv - 1);
    xtf_check_eq(poll_woken, nv - 1);

    // Down with vCPU 1 (blocked) and, when there are more, 2; the rest stay up for the shutdown.
    for (unsigned i = 1; i < nv && i <= 2; i++) {
        xtf_check_eq(vcpu_down(i), 0);
        xtf_check_eq(vcpu_is_up(i), 0);
        xtf_check_eq(vcpu_down(i), 0); // already down
    }
    // With four or more, the last takes itself down (VCPUOP_down on the caller's own vCPU), woken
    // by one more event on its ring port (past the ring's count: it passes nothing on).
    if (nv >= 4) {
        unsigned last = nv - 1;
        __atomic_store_n(&down_self, last, __ATOMIC_SEQ_CST);
        evtchn_send(ring[last]);
        uint64_t until = now_ns() + 20000000000ULL;
        while (vcpu_is_up(last) == 1 && now_ns() < until)
            sched_yield();
        xtf_check_eq(vcpu_is_up(last), 0);
        xtf_check_eq(handled[last], rounds + 1);
        xtf_check_eq(__atomic_load_n(&came_back, __ATOMIC_SEQ_CST), 0);
        printf("vcpu %u took itself down\n", last);
    }
    xtf_success("Success: %u vcpus\n", nv);
}
