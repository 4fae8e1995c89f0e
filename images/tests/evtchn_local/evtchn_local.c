// SPDX-License-Identifier: MIT
// Event-channel ops one domain can check alone: every error path of close, bind_virq, bind_ipi,
// bind_interdomain, send, status and SCHEDOP_poll; unknown ops; loopback and IPI channels; masked
// ports and unmasking (exactly one upcall); upcall_mask; coalescing; SCHEDOP_block with an event
// already pending; port exhaustion and reuse; reset.
//   ports=N   the domain's port limit as the scenario set it (max_evtchn, default 1024)
#include <moat/evtchn.h>
#include <moat/test.h>

#define NOBODY 63 /* a domain id no scenario of this test builds */

static unsigned long max_ports;
static volatile unsigned calls[EVTCHN_LIB_PORTS]; // handler calls per port

static void count(evtchn_port_t port, void *data)
{
    (void)data;
    calls[port]++;
}

static struct evtchn_status status_of(evtchn_port_t port)
{
    struct evtchn_status st;
    long rc = evtchn_status(DOMID_SELF, port, &st);
    xtf_check(rc == 0, "status(%u) returned %ld", port, rc);
    return st;
}

static void check_state(evtchn_port_t port, uint32_t want)
{
    struct evtchn_status st = status_of(port);
    xtf_check(st.status == want, "port %u has status %u, expected %u", port, st.status, want);
}

static long poll1(evtchn_port_t port, uint64_t timeout)
{
    return sched_poll(&port, 1, timeout);
}

// Acceptance 26: close of a free, reserved (0) or out-of-range port.
static void check_close_errors(void)
{
    xtf_check_eq(evtchn_close(0), -XEN_EINVAL);
    xtf_check_eq(evtchn_close(5), -XEN_EINVAL); // free
    xtf_check_eq(evtchn_close((evtchn_port_t)max_ports), -XEN_EINVAL);
    xtf_check_eq(evtchn_close(EVTCHN_MAX_PORTS), -XEN_EINVAL);
    xtf_check_eq(evtchn_close(0xffffffffu), -XEN_EINVAL);
    long p = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(p > 0, "alloc_unbound(self) returned %ld", p);
    xtf_check_eq(evtchn_close((evtchn_port_t)p), 0);
    xtf_check_eq(evtchn_close((evtchn_port_t)p), -XEN_EINVAL); // now free again
    check_state(0, EVTCHNSTAT_closed);                          // reserved reads as closed, as Xen
    check_state((evtchn_port_t)p, EVTCHNSTAT_closed);
}

// Acceptance 28 and the other bind_virq/bind_ipi argument errors.
static void check_virq_ipi(void)
{
    long t = evtchn_bind_virq(VIRQ_TIMER, 0);
    xtf_assert(t > 0, "bind_virq(TIMER) returned %ld", t);
    xtf_check_eq(evtchn_bind_virq(VIRQ_TIMER, 0), -XEN_EEXIST);
    xtf_check_eq(evtchn_bind_virq(VIRQ_TIMER, 1), -XEN_ENOENT);
    xtf_check_eq(evtchn_bind_virq(VIRQ_TIMER, 0xffffffffu), -XEN_ENOENT);
    xtf_check_eq(evtchn_bind_virq(NR_VIRQS, 0), -XEN_EINVAL);
    xtf_check_eq(evtchn_bind_virq(0xffffffffu, 0), -XEN_EINVAL);
    xtf_check_eq(evtchn_bind_virq(VIRQ_DOM_EXC, 1), -XEN_EINVAL); // a global VIRQ on vCPU 1
    xtf_check_eq(evtchn_bind_ipi(1), -XEN_ENOENT);
    struct evtchn_status st = status_of((evtchn_port_t)t);
    xtf_check_eq(st.status, EVTCHNSTAT_virq);
    xtf_check_eq(st.u.virq, VIRQ_TIMER);
    xtf_check_eq(evtchn_send((evtchn_port_t)t), -XEN_EINVAL); // a VIRQ port cannot be sent on

    // The timer's event arrives on the port (a deadline in the past fires at once).
    evtchn_port_mask((evtchn_port_t)t);
    xtf_check_eq(HYPERVISOR_set_timer_op(1), 0);
    xtf_check(evtchn_port_pending((evtchn_port_t)t), "VIRQ_TIMER did not reach port %ld", t);

    // Closing frees the VIRQ: it can be bound again.
    xtf_check_eq(evtchn_close((evtchn_port_t)t), 0);
    long t2 = evtchn_bind_virq(VIRQ_TIMER, 0);
    xtf_check(t2 > 0, "rebinding VIRQ_TIMER after close returned %ld", t2);
    xtf_check_eq(evtchn_close((evtchn_port_t)t2), 0);
}

// Send, bind and status errors; a loopback interdomain channel (acceptance 22 with SELF, 24).
static void check_loopback(void)
{
    xtf_check_eq(evtchn_send(0), -XEN_EINVAL);
    xtf_check_eq(evtchn_send(7), -XEN_EINVAL); // free
    xtf_check_eq(evtchn_send(0xffffffffu), -XEN_EINVAL);
    struct evtchn_status st;
    xtf_check_eq(evtchn_status(DOMID_SELF, (evtchn_port_t)max_ports, &st), -XEN_EINVAL);
    // moat: a domain that may not read others' state (the default policy's domU) cannot tell a
    // free id from a domain it may not touch: it gets what such a domain would answer.
    xtf_check_eq(evtchn_status(NOBODY, 1, &st), -XEN_EPERM);
    xtf_check_eq(evtchn_alloc_unbound(NOBODY), -XEN_EACCES); // moat: the remote must exist
    xtf_check_eq(evtchn_alloc_unbound_in(NOBODY, DOMID_SELF), -XEN_EPERM);
    xtf_check_eq(evtchn_bind_interdomain(NOBODY, 1), -XEN_EINVAL);

    long a = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(a > 0, "alloc_unbound(self) returned %ld", a);
    st = status_of((evtchn_port_t)a);
    xtf_check_eq(st.status, EVTCHNSTAT_unbound);
    xtf_check_eq(st.u.unbound.dom, start_info->domid);
    xtf_check_eq(evtchn_send((evtchn_port_t)a), 0); // unbound: dropped (acceptance 24)
    xtf_check(!evtchn_port_pending((evtchn_port_t)a), "a send on an unbound port made it pending");

    // Binding to things that are not unbound ports for us (acceptance 23).
    xtf_check_eq(evtchn_bind_interdomain(DOMID_SELF, 0), -XEN_EINVAL);
    xtf_check_eq(evtchn_bind_interdomain(DOMID_SELF, 9), -XEN_EINVAL); // free
    xtf_check_eq(evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)max_ports), -XEN_EINVAL);
    xtf_check_eq(evtchn_bind_interdomain(DOMID_SELF, 0xffffffffu), -XEN_EINVAL);
    long ipi = evtchn_bind_ipi(0);
    xtf_assert(ipi > 0, "bind_ipi returned %ld", ipi);
    xtf_check_eq(evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)ipi), -XEN_EINVAL);

    // Bind with upcalls masked, so the new port's initial pending bit can be seen (acceptance 22).
    uint8_t old = evtchn_upcalls_mask();
    long b = evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)a);
    xtf_assert(b > 0, "bind_interdomain(self, %ld) returned %ld", a, b);
    xtf_check(evtchn_port_pending((evtchn_port_t)b), "the new local port %ld is not pending", b);
    xtf_check(!evtchn_port_pending((evtchn_port_t)a), "the remote port %ld became pending", a);
    xtf_check_eq(evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)a), -XEN_EINVAL); // bound now
    evtchn_set_handler((evtchn_port_t)a, count, NULL);
    evtchn_set_handler((evtchn_port_t)b, count, NULL);
    evtchn_upcalls_restore(old);
    xtf_check_eq(calls[b], 1); // the initial event, delivered when upcalls came back on

    st = status_of((evtchn_port_t)a);
    xtf_check_eq(st.status, EVTCHNSTAT_interdomain);
    xtf_check_eq(st.u.interdomain.dom, start_info->domid);
    xtf_check_eq(st.u.interdomain.port, b);
    // Both ways; each send is one upcall and one handler call.
    xtf_check_eq(evtchn_send((evtchn_port_t)a), 0);
    xtf_check_eq(calls[b], 2);
    xtf_check_eq(evtchn_send((evtchn_port_t)b), 0);
    xtf_check_eq(calls[a], 1);

    // Closing one end turns the other back to unbound, naming us, so we may bind it again.
    xtf_check_eq(evtchn_close((evtchn_port_t)b), 0);
    st = status_of((evtchn_port_t)a);
    xtf_check_eq(st.status, EVTCHNSTAT_unbound);
    xtf_check_eq(st.u.unbound.dom, start_info->domid);
    xtf_check_eq(evtchn_send((evtchn_port_t)a), 0);
    long c = evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)a);
    xtf_check(c > 0, "rebinding after close returned %ld", c);
    xtf_check_eq(evtchn_close((evtchn_port_t)a), 0);
    check_state((evtchn_port_t)c, EVTCHNSTAT_unbound);
    xtf_check_eq(evtchn_close((evtchn_port_t)c), 0);
    xtf_check_eq(evtchn_close((evtchn_port_t)ipi), 0);
}

// IPI ports, masking (29), upcall_mask (30), coalescing, and SCHEDOP_block with a pending event.
static void check_delivery(void)
{
    long p = evtchn_bind_ipi(0);
    xtf_assert(p > 0, "bind_ipi returned %ld", p);
    evtchn_port_t ipi = (evtchn_port_t)p;
    check_state(ipi, EVTCHNSTAT_ipi);
    calls[ipi] = 0; // the number may have served the loopback test
    evtchn_set_handler(ipi, count, NULL);

    // An unmasked send is delivered on the way out of the send hypercall itself.
    uint64_t up0 = evtchn_upcall_count;
    xtf_check_eq(evtchn_send(ipi), 0);
    xtf_check_eq(calls[ipi], 1);
    xtf_check_eq(evtchn_upcall_count - up0, 1);

    // Acceptance 29: a masked port stays silent however often it is sent; unmask gives one upcall.
    evtchn_port_mask(ipi);
    up0 = evtchn_upcall_count;
    for (int i = 0; i < 10; i++)
        xtf_check_eq(evtchn_send(ipi), 0);
    sched_yield();
    xtf_check_eq(calls[ipi], 1);
    xtf_check_eq(evtchn_upcall_count - up0, 0);
    xtf_check(evtchn_port_pending(ipi), "a masked port lost its pending bit");
    xtf_check(!shared_info->vcpu_info[0].evtchn_upcall_pending, "a masked port raised upcall_pending");
    evtchn_port_unmask(ipi);
    xtf_check_eq(calls[ipi], 2);
    xtf_check_eq(evtchn_upcall_count - up0, 1);
    // ... and the hypervisor's EVTCHNOP_unmask does the same.
    evtchn_port_mask(ipi);
    xtf_check_eq(evtchn_send(ipi), 0);
    xtf_check_eq(calls[ipi], 2);
    xtf_check_eq(evtchn_unmask(ipi), 0);
    xtf_check_eq(calls[ipi], 3);
    xtf_check_eq(evtchn_unmask(ipi), 0); // nothing pending: no upcall
    xtf_check_eq(calls[ipi], 3);
    xtf_check_eq(evtchn_unmask(0xffffffffu), -XEN_EINVAL);

    // Acceptance 30: with upcall_mask set nothing is delivered, across hypercalls and a yield;
    // repeated sends coalesce into one pending bit and one handler call.
    uint8_t old = evtchn_upcalls_mask();
    up0 = evtchn_upcall_count;
    for (int i = 0; i < 100; i++)
        evtchn_send(ipi);
    HYPERVISOR_xen_version(XENVER_version, NULL);
    sched_yield();
    xtf_check_eq(calls[ipi], 3);
    xtf_check_eq(evtchn_upcall_count - up0, 0);
    xtf_check(shared_info->vcpu_info[0].evtchn_upcall_pending, "upcall_pending not set");
    evtchn_upcalls_restore(old);
    xtf_check_eq(calls[ipi], 4);
    xtf_check_eq(evtchn_upcall_count - up0, 1);

    // SCHEDOP_block with upcalls masked and an event already pending: it unmasks and returns at
    // once (nothing else would ever wake this domain: a lost wake-up hangs the test here).
    old = evtchn_upcalls_mask();
    xtf_check_eq(evtchn_send(ipi), 0);
    xtf_check_eq(sched_block(), 0);
    xtf_check_eq(calls[ipi], 5);
    xtf_check(!shared_info->vcpu_info[0].evtchn_upcall_mask, "SCHEDOP_block left upcalls masked");
    evtchn_upcalls_restore(old);

    // evtchn_wait, for a port without a handler. Masked: the event stays pending, the wait takes it.
    evtchn_set_handler(ipi, NULL, NULL);
    xtf_check(!evtchn_take_fired(ipi), "events that went to the handler were latched too");
    evtchn_port_mask(ipi);
    xtf_check_eq(evtchn_send(ipi), 0);
    xtf_check_eq(evtchn_wait(ipi, 0), 0);
    xtf_check(!evtchn_port_pending(ipi), "evtchn_wait left the port pending");
    xtf_check_eq(evtchn_wait(ipi, now_ns() + 5 * NS_PER_MS), -XEN_ETIMEDOUT);
    evtchn_port_unmask(ipi);
    // Unmasked: the dispatcher takes the event first and latches it for the wait, once.
    up0 = evtchn_upcall_count;
    xtf_check_eq(evtchn_send(ipi), 0);
    xtf_check_eq(evtchn_upcall_count - up0, 1);
    xtf_check_eq(evtchn_wait(ipi, 0), 0);
    xtf_check_eq(evtchn_wait(ipi, now_ns() + 2 * NS_PER_MS), -XEN_ETIMEDOUT);
    xtf_check_eq(calls[ipi], 5);
    xtf_check_eq(evtchn_close(ipi), 0);
}

// Acceptance 31: SCHEDOP_poll refuses invalid ports before it sleeps.
static void check_poll(void)
{
    evtchn_port_t bad[] = { 0, (evtchn_port_t)max_ports, EVTCHN_MAX_PORTS, 0xffffffffu };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
        xtf_check(poll1(bad[i], 0) == -XEN_EINVAL, "poll on port %u did not return -EINVAL", bad[i]);
    long p = evtchn_bind_ipi(0);
    xtf_assert(p > 0, "bind_ipi returned %ld", p);
    evtchn_port_mask((evtchn_port_t)p);
    evtchn_port_t mixed[] = { (evtchn_port_t)p, 0xffffffffu };
    xtf_check_eq(sched_poll(mixed, 2, 0), -XEN_EINVAL);
    evtchn_port_t many[SCHED_POLL_MAX_PORTS + 1];
    for (unsigned i = 0; i < ARRAY_SIZE(many); i++)
        many[i] = (evtchn_port_t)p;
    xtf_check_eq(sched_poll(many, SCHED_POLL_MAX_PORTS + 1, 0), -XEN_EINVAL);
    xtf_check_eq(sched_poll((evtchn_port_t *)8, 1, 0), -XEN_EFAULT);
    // Valid: a pending port returns at once; a passed timeout returns at once.
    xtf_check_eq(evtchn_send((evtchn_port_t)p), 0);
    xtf_check_eq(poll1((evtchn_port_t)p, 0), 0);
    xtf_check_eq(sched_poll(many, SCHED_POLL_MAX_PORTS, 0), 0);
    evtchn_port_clear((evtchn_port_t)p);
    uint64_t t0 = now_ns();
    xtf_check_eq(poll1((evtchn_port_t)p, t0 + 3 * NS_PER_MS), 0);
    xtf_check(now_ns() >= t0 + 3 * NS_PER_MS, "poll returned before its timeout");
    xtf_check_eq(evtchn_close((evtchn_port_t)p), 0);
}

// Acceptance 27 (exhaustion, clean bind_virq/ipi/interdomain failures, reuse) and 32 (reset).
static void check_exhaustion(void)
{
    long timer = evtchn_bind_virq(VIRQ_TIMER, 0);
    xtf_assert(timer > 0, "bind_virq returned %ld", timer);
    long first = evtchn_alloc_unbound(DOMID_SELF);
    xtf_assert(first > 0, "alloc_unbound returned %ld", first);
    unsigned long n = 2; // timer and first
    long p;
    while ((p = evtchn_alloc_unbound(DOMID_SELF)) > 0)
        n++;
    xtf_check_eq(p, -XEN_ENOSPC);
    xtf_check(n == max_ports - 1, "%lu ports before -ENOSPC, expected %lu (port 0 is reserved)", n,
              max_ports - 1);
    printf("exhausted after %lu ports\n", n);

    // Every kind of bind fails cleanly, leaving nothing behind (XSA-496: bind_virq after exhaustion).
    xtf_check_eq(evtchn_bind_ipi(0), -XEN_ENOSPC);
    xtf_check_eq(evtchn_bind_virq(VIRQ_DOM_EXC - 1, 0), -XEN_ENOSPC);
    xtf_check_eq(evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)first), -XEN_ENOSPC);
    check_state((evtchn_port_t)first, EVTCHNSTAT_unbound); // still unbound, not half-bound
    xtf_check_eq(evtchn_close((evtchn_port_t)timer), 0);
    xtf_check_eq(evtchn_alloc_unbound(DOMID_SELF), timer); // the one free port is handed out
    xtf_check_eq(evtchn_bind_virq(VIRQ_TIMER, 0), -XEN_ENOSPC);
    xtf_check_eq(evtchn_close((evtchn_port_t)timer), 0);
    long t2 = evtchn_bind_virq(VIRQ_TIMER, 0); // the failed bind left no stale VIRQ binding
    xtf_check_eq(t2, timer);
    evtchn_port_mask((evtchn_port_t)t2);
    evtchn_port_clear((evtchn_port_t)t2);
    xtf_check_eq(HYPERVISOR_set_timer_op(1), 0);
    xtf_check(evtchn_port_pending((evtchn_port_t)t2), "the rebound VIRQ_TIMER does not fire");

    // Freed ports are reused.
    evtchn_port_t freed[] = { 3, (evtchn_port_t)(max_ports / 2), (evtchn_port_t)(max_ports - 1) };
    for (unsigned i = 0; i < ARRAY_SIZE(freed); i++)
        xtf_check_eq(evtchn_close(freed[i]), 0);
    for (unsigned i = 0; i < ARRAY_SIZE(freed); i++)
        xtf_check_eq(evtchn_alloc_unbound(DOMID_SELF), freed[i]);
    xtf_check_eq(evtchn_alloc_unbound(DOMID_SELF), -XEN_ENOSPC);

    // Reset closes everything; the table is as new (acceptance 32, first half).
    xtf_check_eq(evtchn_reset(DOMID_SELF), 0);
    for (evtchn_port_t q = 1; q < max_ports; q++) {
        struct evtchn_status st;
        if (evtchn_status(DOMID_SELF, q, &st) != 0 || st.status != EVTCHNSTAT_closed) {
            xtf_failure("Fail: port %u not closed after reset\n", q);
            break;
        }
    }
    xtf_check_eq(evtchn_alloc_unbound(DOMID_SELF), 1);
    xtf_check_eq(evtchn_bind_virq(VIRQ_TIMER, 0), 2);
    xtf_check_eq(evtchn_reset(DOMID_SELF), 0);
}

// Each port's pending bit is its own, on both sides of the bitmap's 64-bit word boundaries: masked
// IPI ports up to 129, a send on each of 63, 64, 127 and 128 sets its bit and no neighbour's.
static void check_pending_bits(void)
{
    if (max_ports <= 130)
        return;
    static long bound[130];
    unsigned n = 0;
    for (long p = 0; n < ARRAY_SIZE(bound) && p < 129; n++) {
        p = evtchn_bind_ipi(0);
        xtf_assert(p > 0, "bind_ipi returned %ld", p);
        evtchn_port_mask((evtchn_port_t)p);
        bound[n] = p;
    }
    xtf_assert(bound[n - 1] == 129, "the IPI ports did not reach 129 (%ld)", bound[n - 1]);
    static const evtchn_port_t edges[] = {63, 64, 127, 128};
    for (unsigned i = 0; i < ARRAY_SIZE(edges); i++) {
        evtchn_port_t e = edges[i];
        xtf_check_eq(evtchn_send(e), 0);
        xtf_check(evtchn_port_pending(e), "a send on port %u did not make it pending", e);
        xtf_check(!evtchn_port_pending(e - 1) && !evtchn_port_pending(e + 1),
                  "a send on port %u made a neighbour pending", e);
        evtchn_port_clear(e);
    }
    for (unsigned i = 0; i < n; i++)
        xtf_check_eq(evtchn_close((evtchn_port_t)bound[i]), 0);
}

// Ops moat does not have (bind_pirq, the FIFO ABI) and unreadable arguments; bind_vcpu in a
// one-vCPU domain.
static void check_unknown_ops(void)
{
    struct evtchn_send arg = { .port = 1 };
    static const int missing[] = { 2, 11, 12, 13, 1000 };
    xtf_check_eq(evtchn_bind_vcpu(1, 1), -XEN_ENOENT);
    xtf_check_eq(evtchn_bind_vcpu(0, 0), -XEN_EINVAL);
    for (unsigned i = 0; i < ARRAY_SIZE(missing); i++)
        xtf_check(HYPERVISOR_event_channel_op(missing[i], &arg) == -XEN_ENOSYS, "op %d is not -ENOSYS",
                  missing[i]);
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, (void *)8), -XEN_EFAULT);
    // The send reads its port with one inlined load after one range compare: the ends of the
    // range (0; the last 4 bytes below GUEST_VA_LIMIT, unmapped, faulting into the fixup; one byte
    // further, refused), and a mapped hypervisor address, which only the compare keeps out.
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, NULL), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, (void *)(GUEST_VA_LIMIT - 4)), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, (void *)(GUEST_VA_LIMIT - 3)), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_send, (void *)0xffff800000100000ULL), -XEN_EFAULT);
    xtf_check_eq(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, (void *)GUEST_VA_LIMIT), -XEN_EFAULT);
}

void test_main(void)
{
    max_ports = cmdline_ulong("ports", EVTCHN_DEFAULT_PORTS);
    xtf_assert(evtchn_init() == 0, "evtchn_init failed");
    check_unknown_ops();
    check_close_errors();
    check_virq_ipi();
    check_loopback();
    check_delivery();
    check_poll();
    check_pending_bits();
    check_exhaustion();
    xtf_success(NULL);
}
