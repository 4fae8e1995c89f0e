// SPDX-License-Identifier: MIT
// The 2-level ABI's bookkeeping, as a guest sees it in its shared-info page, checked one domain
// alone (tests/evtchn/, beside evtchn_local): Xen's raise rules (upcall_pending exactly 1, only
// for a newly pending unmasked port, only when the send set the selector bit itself), each
// port's own pending, mask and selector bits on both sides of the 64-bit word boundaries, what
// bind_vcpu re-raises, what close and a rebind of the number clear, a status that leaves no
// guest bytes in u, results copied back only on success, a global VIRQ rebound after close,
// reserved port 0 left alone by reset, and a poll woken by an event on a masked port.
#include <moat/evtchn.h>
#include <moat/test.h>

static volatile unsigned calls[EVTCHN_LIB_PORTS]; // handler calls per port

static void count(evtchn_port_t port, void *data)
{
    (void)data;
    calls[port]++;
}

// The guest may set a port's pending bit itself (as a pending event looks to it).
static void set_pending_bit(evtchn_port_t port)
{
    __atomic_fetch_or(&shared_info->evtchn_pending[port / 64], 1ULL << (port % 64), __ATOMIC_SEQ_CST);
}

static void clear_raise(struct vcpu_info *vi)
{
    __atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
}

static void expect_raised(const struct vcpu_info *vi, uint64_t sel, const char *what, unsigned port)
{
    xtf_check(vi->evtchn_upcall_pending == (sel ? 1 : 0) && vi->evtchn_pending_sel == sel,
              "%s (port %u): upcall_pending %u, pending_sel %#lx, expected %u, %#lx", what, port,
              vi->evtchn_upcall_pending, (unsigned long)vi->evtchn_pending_sel, sel ? 1 : 0, (unsigned long)sel);
}

// Seen with upcalls masked, so that nothing is taken before we look: a send raises vCPU 0's
// upcall (upcall_pending exactly 1, as Xen writes it; the port's word in pending_sel) only for a
// port that was not pending already, and sets upcall_pending only when it set the selector bit
// itself (a selector bit still set means the guest's scan will find the port anyway). bind_vcpu
// to vCPU 0 (a one-vCPU domain may move a port to the vCPU it has) re-raises only a port that is
// pending and unmasked.
static void check_raise_rules(void)
{
    struct vcpu_info *vi = &shared_info->vcpu_info[0];
    long p = evtchn_bind_ipi(0), q = evtchn_bind_ipi(0);
    xtf_assert(p > 0 && q > 0 && p / 64 == q / 64, "bind_ipi returned %ld and %ld", p, q);
    calls[p] = calls[q] = 0;
    evtchn_set_handler((evtchn_port_t)p, count, NULL);
    evtchn_set_handler((evtchn_port_t)q, count, NULL);
    uint64_t word = 1ULL << (p / 64);

    uint8_t old = evtchn_upcalls_mask();
    clear_raise(vi);
    xtf_check_eq(evtchn_send((evtchn_port_t)p), 0);
    expect_raised(vi, word, "a send", (unsigned)p);
    clear_raise(vi); // p stays pending: another send on it is coalesced and raises nothing
    xtf_check_eq(evtchn_send((evtchn_port_t)p), 0);
    expect_raised(vi, 0, "a send on a port already pending", (unsigned)p);
    __atomic_store_n(&vi->evtchn_pending_sel, word, __ATOMIC_SEQ_CST); // the selector bit left set
    xtf_check_eq(evtchn_send((evtchn_port_t)q), 0);
    xtf_check(evtchn_port_pending((evtchn_port_t)q), "a send on port %ld did not make it pending", q);
    xtf_check(!vi->evtchn_upcall_pending, "a send with its selector bit already set raised upcall_pending");

    evtchn_port_mask((evtchn_port_t)q);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)q, 0), -XEN_EINVAL); // an IPI stays where it is
    long u = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(u > 0, "alloc_unbound(self) returned %ld", u);
    long b = evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)u);
    xtf_assert(b > 0, "bind_interdomain(self, %ld) returned %ld", u, b);
    evtchn_port_clear((evtchn_port_t)b); // the new end's initial event
    evtchn_port_mask((evtchn_port_t)u);
    xtf_check_eq(evtchn_send((evtchn_port_t)b), 0); // u pending, masked
    clear_raise(vi);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)u, 0), 0);
    expect_raised(vi, 0, "bind_vcpu of a masked pending port", (unsigned)u);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)b, 0), 0);
    expect_raised(vi, 0, "bind_vcpu of a port not pending", (unsigned)b);
    __atomic_fetch_and(&shared_info->evtchn_mask[u / 64], ~(1ULL << (u % 64)), __ATOMIC_SEQ_CST);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)u, 0), 0); // pending, unmasked now
    expect_raised(vi, 1ULL << (u / 64), "bind_vcpu of a pending unmasked port", (unsigned)u);
    struct evtchn_status st;
    xtf_check_eq(evtchn_status(DOMID_SELF, (evtchn_port_t)u, &st), 0);
    xtf_check_eq(st.vcpu, 0);
    calls[u] = 0;
    evtchn_set_handler((evtchn_port_t)u, count, NULL);
    __atomic_fetch_or(&vi->evtchn_pending_sel, word, __ATOMIC_SEQ_CST); // p's word, for the scan
    vi->evtchn_upcall_pending = 1;
    evtchn_upcalls_restore(old);
    xtf_check(calls[p] == 1 && calls[q] == 0 && calls[u] == 1, "handler calls: p %u, q %u (masked), u %u",
              calls[p], calls[q], calls[u]);
    evtchn_port_clear((evtchn_port_t)q);
    evtchn_port_unmask((evtchn_port_t)q);
    const long ports[] = {p, q, u, b};
    for (unsigned i = 0; i < ARRAY_SIZE(ports); i++)
        xtf_check_eq(evtchn_close((evtchn_port_t)ports[i]), 0);
}

// Masked IPI ports 1 to 129, across two word boundaries. Each edge port (63, 64, 127, 128),
// unmasked, raises the upcall with its own selector word (port / 64), then, while it is still
// pending, raises nothing more (its own pending bit, not a neighbour's, says it was pending; its
// own mask bit, not a neighbour's, says it may raise); the handler gets it once. Masked again, a
// send is raised by the unmask alone, with the same selector word. A close, and a
// bind that reuses the number, clear that port's pending and mask bits and no other's.
static void check_edges(void)
{
    static long bound[129];
    for (unsigned i = 0; i < ARRAY_SIZE(bound); i++) {
        bound[i] = evtchn_bind_ipi(0);
        xtf_assert(bound[i] == (long)i + 1, "bind_ipi returned %ld, expected %u", bound[i], i + 1);
        evtchn_port_mask((evtchn_port_t)bound[i]);
    }
    static const evtchn_port_t edges[] = {63, 64, 127, 128};
    struct vcpu_info *vi = &shared_info->vcpu_info[0];
    for (unsigned i = 0; i < ARRAY_SIZE(edges); i++) {
        evtchn_port_t e = edges[i];
        calls[e] = 0;
        evtchn_set_handler(e, count, NULL);
        uint8_t old = evtchn_upcalls_mask();
        evtchn_port_unmask(e);
        clear_raise(vi);
        xtf_check_eq(evtchn_send(e), 0);
        expect_raised(vi, 1ULL << (e / 64), "a send on an unmasked port", e);
        clear_raise(vi);
        xtf_check_eq(evtchn_send(e), 0);
        expect_raised(vi, 0, "a second send on a pending port", e);
        vi->evtchn_pending_sel = 1ULL << (e / 64);
        vi->evtchn_upcall_pending = 1;
        evtchn_upcalls_restore(old);
        xtf_check(calls[e] == 1 && !evtchn_port_pending(e), "a send on unmasked port %u: %u handler calls", e,
                  calls[e]);
        evtchn_port_mask(e);
        // Masked, a send sets only the pending bit; the unmask (EVTCHNOP_unmask, which reads the
        // port's own pending bit: word port / 64, bit port % 64) raises it with its own selector
        // word, and the handler gets it once more.
        old = evtchn_upcalls_mask();
        clear_raise(vi);
        xtf_check_eq(evtchn_send(e), 0);
        expect_raised(vi, 0, "a send on a masked port", e);
        xtf_check(evtchn_port_pending(e), "a send on masked port %u did not make it pending", e);
        evtchn_port_unmask(e);
        expect_raised(vi, 1ULL << (e / 64), "the unmask of a pending port", e);
        evtchn_upcalls_restore(old);
        xtf_check(calls[e] == 2 && !evtchn_port_pending(e), "masked port %u, a send, its unmask: %u handler calls", e,
                  calls[e]);
        evtchn_port_mask(e);
    }
    for (unsigned i = 0; i < ARRAY_SIZE(bound); i++)
        set_pending_bit((evtchn_port_t)bound[i]);
    for (unsigned i = 0; i < ARRAY_SIZE(edges); i++) {
        evtchn_port_t e = edges[i];
        xtf_check_eq(evtchn_close(e), 0);
        xtf_check(!evtchn_port_pending(e), "closed port %u is still pending", e);
        xtf_check_eq(evtchn_bind_ipi(0), e);
        xtf_check(!evtchn_port_pending(e) && !evtchn_port_masked(e), "port %u bound again is pending or masked", e);
        evtchn_port_mask(e);
        set_pending_bit(e);
        for (unsigned j = 0; j < ARRAY_SIZE(bound); j++)
            if (!evtchn_port_pending((evtchn_port_t)bound[j]) || !evtchn_port_masked((evtchn_port_t)bound[j])) {
                xtf_failure("Fail: closing and binding port %u cleared port %ld's bits\n", e, bound[j]);
                break;
            }
    }
    for (unsigned i = 0; i < ARRAY_SIZE(bound); i++)
        xtf_check_eq(evtchn_close((evtchn_port_t)bound[i]), 0);
}

// An IPI's status has nothing in u: the hypervisor clears what the guest left there.
static void check_status_clears_u(void)
{
    long ipi = evtchn_bind_ipi(0);
    xtf_assert(ipi > 0, "bind_ipi returned %ld", ipi);
    struct evtchn_status st;
    memset(&st, 0xff, sizeof(st));
    st.dom = DOMID_SELF;
    st.port = (evtchn_port_t)ipi;
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_status, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_ipi && st.vcpu == 0 && st.u.interdomain.dom == 0 && st.u.interdomain.port == 0,
              "IPI port %ld: status %u vcpu %u u %#x/%#x", ipi, st.status, st.vcpu, st.u.interdomain.dom,
              st.u.interdomain.port);
    xtf_check_eq(evtchn_close((evtchn_port_t)ipi), 0);
}

// A port this domain has never used is closed and notifies vCPU 0: a new domain's port table
// starts clear, whatever an earlier domain in its slot did (domain_create clears the table up to
// the domain's port limit).
static void check_unused_port_status(void)
{
    struct evtchn_status st;
    memset(&st, 0xff, sizeof(st));
    st.dom = DOMID_SELF;
    st.port = 1000; /* below the default limit of 1,024; this guest binds far fewer */
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_status, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_closed && st.vcpu == 0, "unused port 1000: status %u vcpu %u", st.status,
              st.vcpu);
}

// An op's result is copied back only when it succeeded: a result that cannot be written (our
// own .rodata) fails a successful op with -EFAULT, never a failed one, whose error stands.
static const struct evtchn_status readonly_status = {.dom = DOMID_SELF, .port = 0};
static const struct evtchn_status readonly_bad_status = {.dom = DOMID_SELF, .port = 0xffffffffu};
static const struct evtchn_bind_ipi readonly_ipi = {.vcpu = 7};

static void check_readonly_results(void)
{
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_status, (void *)&readonly_status), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_status, (void *)&readonly_bad_status), -XEN_EINVAL);
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, (void *)&readonly_ipi), -XEN_ENOENT);
}

// A global VIRQ (bound in row 0 of the table): closing its port frees the binding, so it binds again.
static void check_global_virq_rebind(void)
{
    const uint32_t virq = VIRQ_DOM_EXC - 1; // global, and no permission needed
    long g = evtchn_bind_virq(virq, 0);
    xtf_assert(g > 0, "bind_virq(%u) returned %ld", virq, g);
    xtf_check_eq(evtchn_bind_virq(virq, 0), -XEN_EEXIST);
    // vCPU 0 only: refused as such (-EINVAL) before the vCPU is looked up (this domain has no vCPU 1).
    xtf_check_eq(evtchn_bind_virq(virq, 1), -XEN_EINVAL);
    xtf_check_eq(evtchn_bind_vcpu((evtchn_port_t)g, 0), 0); // a global VIRQ's port may move
    xtf_check_eq(evtchn_close((evtchn_port_t)g), 0);
    long g2 = evtchn_bind_virq(virq, 0);
    xtf_check(g2 > 0, "rebinding VIRQ %u after close returned %ld", virq, g2);
    xtf_check_eq(evtchn_close((evtchn_port_t)g2), 0);
}

// Reset closes every port but the reserved port 0: a pending bit the guest set on it stays.
static void check_reset_spares_port_0(void)
{
    long p = evtchn_bind_ipi(0);
    xtf_assert(p > 0, "bind_ipi returned %ld", p);
    __atomic_fetch_or(&shared_info->evtchn_mask[0], 1ULL, __ATOMIC_SEQ_CST); // the library's helpers skip port 0
    set_pending_bit(0);
    xtf_check_eq(evtchn_reset(DOMID_SELF), 0);
    xtf_check(__atomic_load_n(&shared_info->evtchn_pending[0], __ATOMIC_SEQ_CST) & 1,
              "reset cleared reserved port 0's pending bit");
    struct evtchn_status st;
    xtf_check_eq(evtchn_status(DOMID_SELF, (evtchn_port_t)p, &st), 0);
    xtf_check_eq(st.status, EVTCHNSTAT_closed);
    __atomic_fetch_and(&shared_info->evtchn_pending[0], ~1ULL, __ATOMIC_SEQ_CST);
    __atomic_fetch_and(&shared_info->evtchn_mask[0], ~1ULL, __ATOMIC_SEQ_CST);
}

// A poller wakes on any event of its domain, masked or not: its port masked (so no upcall is
// raised, nothing else wakes vCPU 0), the timer's VIRQ fires 1 ms on and must end a poll whose
// own deadline is 20 s away well before that deadline.
static void check_poll_wakes_on_a_masked_port(void)
{
    long t = evtchn_bind_virq(VIRQ_TIMER, 0);
    xtf_assert(t > 0, "bind_virq(TIMER) returned %ld", t);
    evtchn_port_t port = (evtchn_port_t)t;
    xtf_check_eq(evtchn_bind_vcpu(port, 0), -XEN_EINVAL); // a per-vCPU VIRQ stays on its vCPU
    evtchn_port_mask(port);
    evtchn_port_clear(port);
    uint64_t t0 = now_ns(), deadline = t0 + 20000ULL * NS_PER_MS;
    xtf_check_eq(HYPERVISOR_set_timer_op(t0 + NS_PER_MS), 0);
    xtf_check_eq(sched_poll(&port, 1, deadline), 0);
    uint64_t woke = now_ns();
    xtf_check(evtchn_port_pending(port) && woke < deadline,
              "the poll ended %lu ms after it began (deadline 20000 ms), port pending: %d",
              (unsigned long)((woke - t0) / NS_PER_MS), evtchn_port_pending(port));
    evtchn_port_clear(port);
    evtchn_port_unmask(port);
    xtf_check_eq(evtchn_close(port), 0);
}

void test_main(void)
{
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    check_raise_rules();
    check_edges();
    check_status_clears_u();
    check_unused_port_status();
    check_readonly_results();
    check_global_virq_rebind();
    check_reset_spares_port_0();
    check_poll_wakes_on_a_masked_port();
    printf("raise rules, edges, status, results, VIRQ rebind, reset and poll checked\n");
    xtf_success(NULL);
}
