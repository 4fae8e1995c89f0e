// SPDX-License-Identifier: MIT
// Event channels: Xen's 2-level ABI. Port state lives in the hypervisor; the pending and mask
// bitmaps live in the guest's shared-info page, where the guest reads and clears them.
#include <moat/arch.h>
#include <moat/domain.h>
#include <moat/event_channel.h>
#include <moat/lib.h>
#include <moat/nospec.h>
#include <moat/quota.h>
#include <moat/sched.h>
#include <moat/shutdown.h>
#include <moat/xsm.h>

static struct evtchn_table *table(struct domain *d) { return &d->evtchn; }

static inline __attribute__((always_inline)) bool test_and_set(uint64_t *words, unsigned bit)
{
    return __atomic_fetch_or(&words[bit / 64], 1ULL << (bit % 64), __ATOMIC_SEQ_CST) & (1ULL << (bit % 64));
}

static inline __attribute__((always_inline)) bool test_bit(const uint64_t *words, unsigned bit)
{
    return __atomic_load_n(&words[bit / 64], __ATOMIC_SEQ_CST) & (1ULL << (bit % 64));
}

static void clear_bit(uint64_t *words, unsigned bit)
{
    __atomic_fetch_and(&words[bit / 64], ~(1ULL << (bit % 64)), __ATOMIC_SEQ_CST);
}

void evtchn_init(struct domain *d, uint32_t max_ports)
{
    struct evtchn_table *t = table(d);
    t->max_ports = max_ports ? MIN(max_ports, EVTCHN_MAX_PORTS) : EVTCHN_DEFAULT_PORTS;
    t->ports[0].state = ECS_RESERVED;
}

/* A global VIRQ: bound on vCPU 0 only; the one per-vCPU VIRQ here is the timer (as Xen's). */
static bool virq_is_global(unsigned virq) { return virq != VIRQ_TIMER; }

bool evtchn_port_valid(struct domain *d, evtchn_port_t port) { return port > 0 && port < table(d)->max_ports; }

/* A port that passed evtchn_port_valid, safe to index with under speculation (moat/nospec.h). */
static evtchn_port_t port_nospec(struct domain *d, evtchn_port_t port)
{
    return (evtchn_port_t)array_index_nospec(port, table(d)->max_ports);
}

bool evtchn_is_pending(struct domain *d, evtchn_port_t port)
{
    return test_bit(domain_shared_info(d)->evtchn_pending, port_nospec(d, port));
}

/* Raises a pending, unmasked port's upcall on vCPU id of d: its word in that vCPU's pending_sel,
 * its upcall_pending. Returns 0 (set_pending's result). */
static inline __attribute__((always_inline)) long raise_on(struct domain *d, struct shared_info *s, size_t id,
                                                           evtchn_port_t port)
{
    _Static_assert(EVTCHN_MAX_PORTS <= 64 * 64, "a port's selector bit is in the one pending_sel word");
    struct vcpu_info *vi = &s->vcpu_info[id];
    struct vcpu *v = &d->vcpus[id];
    uint64_t sel_bit = 1ULL << (port / 64);
    if (!(__atomic_fetch_or(&vi->evtchn_pending_sel, sel_bit, __ATOMIC_SEQ_CST) & sel_bit))
        vi->evtchn_upcall_pending = 1;
    else if (!vi->evtchn_upcall_pending)
        return 0;
    return sched_notify(v); /* blocked: wake it; running on another CPU: interrupt it */
}

/* The 2-level "set pending" of port in s: edges coalesce. True if the port became pending
 * unmasked, so that its upcall is to be raised (raise_on). */
static inline __attribute__((always_inline)) bool pend(struct shared_info *s, evtchn_port_t port)
{
    /* The mask bit tested by a shift of its word (a bit test), not test_bit's 1 << port: no mask
     * is built. */
    if (test_and_set(s->evtchn_pending, port))
        return false;
    return !((__atomic_load_n(&s->evtchn_mask[port / 64], __ATOMIC_SEQ_CST) >> (port % 64)) & 1);
}

/* set_pending without pollers: a newly pending unmasked port raises the upcall on the vCPU the
 * port is bound to. Returns 0, a send's result, so that the send ends in a jump here rather than
 * a call that keeps its frame. */
static inline __attribute__((always_inline)) long set_pending_bits(struct domain *d, evtchn_port_t port)
{
    struct shared_info *s = domain_shared_info(d);
    if (!pend(s, port))
        return 0;
    return raise_on(d, s, table(d)->notify_vcpu[port], port);
}

/* Every vCPU of d that polls is woken: pollers re-check their ports themselves, masked or not,
 * so any event of the domain wakes them. Out of line: a domain with several pollers is rare.
 * Returns 0. */
static __attribute__((__noinline__)) long wake_all_pollers(struct domain *d)
{
    for (unsigned m = d->poll_mask; m; m &= m - 1) /* a copy: each wake-up clears only its own bit */
        sched_wake(&d->vcpus[__builtin_ctz(m)]);
    return 0;
}

/* The pollers, then the upcall (raise_on) of a port that became pending unmasked. Out of line:
 * set_pending_polled's usual case then makes no call but its last, and needs no frame. */
static __attribute__((__noinline__)) long raise_polled(struct domain *d, struct shared_info *s, evtchn_port_t port)
{
    wake_all_pollers(d);
    return raise_on(d, s, table(d)->notify_vcpu[port], port);
}

/* set_pending of a domain with pollers (poll_mask not 0): the bits, then the pollers woken. The
 * usual case, one poller and no upcall (a masked port, as the pollers' own usually is), goes
 * straight to its vCPU, found from poll_mask without a walk, and ends in a jump to sched_wake. */
static __attribute__((__noinline__)) long set_pending_polled(struct domain *d, evtchn_port_t port)
{
    struct shared_info *s = domain_shared_info(d);
    if (pend(s, port))
        return raise_polled(d, s, port);
    unsigned m = d->poll_mask;
    if (m & (m - 1))
        return wake_all_pollers(d);
    return sched_wake(&d->vcpus[__builtin_ctz(m)]);
}

static inline __attribute__((always_inline)) long set_pending(struct domain *d, evtchn_port_t port)
{
    if (d->poll_mask)
        return set_pending_polled(d, port);
    return set_pending_bits(d, port);
}

/* A free port, if d's label (and its creator's) may hold one more: the caller claims it at once. */
static long alloc_port(struct domain *d)
{
    struct evtchn_table *t = table(d);
    if (!quota_room(d, QUOTA_PORTS, 1))
        return -XEN_ENOSPC;
    for (uint32_t p = 1; p < t->max_ports; p++)
        if (t->ports[p].state == ECS_FREE)
            return p;
    return -XEN_ENOSPC;
}

/* A fresh port starts clean: no stale pending or mask bit from an earlier user of the number. */
static void claim_port(struct domain *d, evtchn_port_t port, uint8_t state)
{
    struct shared_info *s = domain_shared_info(d);
    clear_bit(s->evtchn_pending, port);
    clear_bit(s->evtchn_mask, port);
    table(d)->ports[port].state = state;
    if (state == ECS_INTERDOMAIN)
        table(d)->interdomain++;
    table(d)->notify_vcpu[port] = 0;
    quota_charge(d, QUOTA_PORTS, 1); /* alloc_port saw room, or close_port just gave it back */
}

static struct domain *resolve(struct domain *self, domid_t id)
{
    return id == DOMID_SELF || id == self->domid ? self : domain_by_id(id);
}

/* An interdomain port's peer, from the slot bind_interdomain recorded (no look-up by id). The
 * check is the invariant that keeps the slot true (both ends close together; a domain closes all
 * its ports before its slot is freed): were it ever broken, stop rather than signal a stranger. */
static struct domain *peer_of(const struct evtchn *chn)
{
    struct domain *rd = domain_in_slot(chn->peer_slot);
    arch_compute_once(rd); /* else the slot's address is folded into each use: a second multiply on every send */
    BUG_ON(__builtin_expect(rd->domid != chn->remote_dom || rd->state == DOM_FREE, 0));
    return rd;
}

static long alloc_unbound(struct domain *d, struct evtchn_alloc_unbound *a)
{
    struct domain *owner = resolve(d, a->dom);
    if (!owner)
        return xsm_no_domain(d, a->dom, -XEN_EPERM);
    int rc = xsm_foreign_evtchn(d, owner, true);
    if (rc)
        return rc;
    domid_t remote_id = a->remote_dom == DOMID_SELF ? owner->domid : a->remote_dom;
    struct domain *remote = domain_by_id(remote_id);
    if (!remote)
        return xsm_no_domain(d, remote_id, -XEN_EACCES);
    rc = xsm_evtchn_unbound(owner, remote);
    if (rc)
        return rc;
    long port = alloc_port(owner);
    if (port < 0)
        return port;
    claim_port(owner, (evtchn_port_t)port, ECS_UNBOUND);
    table(owner)->ports[port].remote_dom = remote_id;
    a->port = (evtchn_port_t)port;
    return 0;
}

static long bind_interdomain(struct domain *d, struct evtchn_bind_interdomain *b)
{
    struct domain *rd = resolve(d, b->remote_dom);
    if (!rd) /* a live domain that offered us no port answers -EINVAL */
        return xsm_no_domain(d, b->remote_dom, -XEN_EINVAL);
    if (!evtchn_port_valid(rd, b->remote_port))
        return -XEN_EINVAL;
    struct evtchn *rchn = &table(rd)->ports[port_nospec(rd, b->remote_port)];
    if (rchn->state != ECS_UNBOUND || rchn->remote_dom != d->domid)
        return -XEN_EINVAL;
    int rc = xsm_evtchn_interdomain(d, rd);
    if (rc)
        return rc;
    long port = alloc_port(d);
    if (port < 0)
        return port;
    claim_port(d, (evtchn_port_t)port, ECS_INTERDOMAIN);
    struct evtchn *lchn = &table(d)->ports[port];
    lchn->remote_dom = rd->domid;
    lchn->remote_port = b->remote_port;
    lchn->peer_slot = (uint8_t)domain_slot(rd);
    rchn->state = ECS_INTERDOMAIN;
    rchn->peer_slot = (uint8_t)domain_slot(d); /* its remote_dom already names d */
    table(rd)->interdomain++;
    rchn->remote_port = (uint32_t)port;
    b->local_port = (evtchn_port_t)port;
    set_pending(d, (evtchn_port_t)port); /* as Xen: the new local end starts pending */
    return 0;
}

static long bind_virq(struct domain *d, struct evtchn_bind_virq *b)
{
    if (b->virq >= NR_VIRQS)
        return -XEN_EINVAL;
    b->virq = (uint32_t)array_index_nospec(b->virq, NR_VIRQS);
    if (virq_is_global(b->virq) && b->vcpu != 0)
        return -XEN_EINVAL; /* a global VIRQ binds on vCPU 0 only */
    const struct vcpu *v = domain_vcpu(d, b->vcpu);
    if (!v)
        return -XEN_ENOENT;
    if (b->virq == VIRQ_DOM_EXC) {
        int rc = xsm_watch_domains(d);
        if (rc)
            return rc;
    }
    if (table(d)->virq_to_port[v->vcpu_id][b->virq])
        return -XEN_EEXIST;
    long port = alloc_port(d);
    if (port < 0)
        return port;
    claim_port(d, (evtchn_port_t)port, ECS_VIRQ);
    table(d)->ports[port].virq = (uint8_t)b->virq;
    table(d)->notify_vcpu[port] = (uint8_t)v->vcpu_id;
    table(d)->virq_to_port[v->vcpu_id][b->virq] = (uint32_t)port;
    b->port = (evtchn_port_t)port;
    return 0;
}

static long bind_ipi(struct domain *d, struct evtchn_bind_ipi *b)
{
    const struct vcpu *v = domain_vcpu(d, b->vcpu);
    if (!v)
        return -XEN_ENOENT;
    long port = alloc_port(d);
    if (port < 0)
        return port;
    claim_port(d, (evtchn_port_t)port, ECS_IPI);
    table(d)->notify_vcpu[port] = (uint8_t)v->vcpu_id;
    b->port = (evtchn_port_t)port;
    return 0;
}

/* Moves a port's upcalls to another vCPU (Xen's rules: not an IPI or per-vCPU VIRQ port). A port
 * pending and unmasked is raised on its new vCPU at once, so no event is stranded on the old. */
static long bind_vcpu(struct domain *d, const struct evtchn_bind_vcpu *b)
{
    struct vcpu *v = domain_vcpu(d, b->vcpu);
    if (!v)
        return -XEN_ENOENT;
    if (!evtchn_port_valid(d, b->port))
        return -XEN_EINVAL;
    evtchn_port_t port = port_nospec(d, b->port);
    const struct evtchn *chn = &table(d)->ports[port];
    switch (chn->state) {
    case ECS_VIRQ:
        if (!virq_is_global(chn->virq))
            return -XEN_EINVAL;
        break;
    case ECS_UNBOUND:
    case ECS_INTERDOMAIN:
        break;
    default:
        return -XEN_EINVAL;
    }
    table(d)->notify_vcpu[port] = (uint8_t)v->vcpu_id;
    struct shared_info *s = domain_shared_info(d);
    if (test_bit(s->evtchn_pending, port) && !test_bit(s->evtchn_mask, port))
        raise_on(d, s, v->vcpu_id, port);
    return 0;
}

/*
 * Frees a port. For an interdomain channel the peer's end reverts to unbound: to us (a plain
 * close, as in Xen: we may rebind), or to no one (death, revocation), with an event if notify.
 */
static void close_port(struct domain *d, evtchn_port_t port, domid_t peer_may_bind, bool notify_peer)
{
    struct evtchn *chn = &table(d)->ports[port];
    if (chn->state == ECS_INTERDOMAIN) {
        struct domain *rd = peer_of(chn);
        struct evtchn *rchn = &table(rd)->ports[chn->remote_port];
        if (rchn->state == ECS_INTERDOMAIN)
            table(rd)->interdomain--;
        rchn->state = ECS_UNBOUND;
        rchn->remote_dom = peer_may_bind;
        rchn->remote_port = 0;
        rchn->peer_slot = 0;
        if (notify_peer)
            set_pending(rd, chn->remote_port);
    } else if (chn->state == ECS_VIRQ) {
        /* A global VIRQ is in row 0 wherever bind_vcpu sent its upcalls; a per-vCPU one stays
         * on the vCPU it was bound for. */
        unsigned row = virq_is_global(chn->virq) ? 0 : table(d)->notify_vcpu[port];
        table(d)->virq_to_port[row][chn->virq] = 0;
    }
    if (chn->state > ECS_RESERVED)
        quota_give(d, QUOTA_PORTS, 1);
    if (chn->state == ECS_INTERDOMAIN)
        table(d)->interdomain--;
    memset(chn, 0, sizeof(*chn));
    clear_bit(domain_shared_info(d)->evtchn_pending, port);
}

static long evtchn_close(struct domain *d, evtchn_port_t port)
{
    if (!evtchn_port_valid(d, port))
        return -XEN_EINVAL;
    port = port_nospec(d, port);
    if (table(d)->ports[port].state == ECS_FREE)
        return -XEN_EINVAL;
    close_port(d, port, d->domid, false);
    return 0;
}

/*
 * EVTCHNOP_send's checks on d's port (SCHEDOP_send_poll's too, whose port comes in a 64-bit
 * register: a value of 2^32 or more fails the bound like any other port past max_ports): 1 with
 * *rd and *rport the end the event is for (the peer's, or d's own port for an IPI), 0 for an
 * unbound port (nobody listens yet: the event is dropped, as in Xen), or -XEN_EINVAL.
 */
static inline __attribute__((always_inline)) long send_target(struct domain *d, uint64_t port, struct domain **rd,
                                                              evtchn_port_t *rport)
{
    /* evtchn_port_valid and port_nospec with one compare: the send is the hot path. */
    uint64_t mask;
    if (port == 0)
        return -XEN_EINVAL;
    if (!array_index_check_nospec(port, table(d)->max_ports, &mask))
        return -XEN_EINVAL;
    port &= mask;
    const struct evtchn *chn = &table(d)->ports[port];
    switch (__builtin_expect(chn->state, ECS_INTERDOMAIN)) {
    case ECS_INTERDOMAIN:
        *rd = peer_of(chn);
        *rport = chn->remote_port;
        return 1;
    case ECS_IPI:
        *rd = d;
        *rport = (evtchn_port_t)port;
        return 1;
    case ECS_UNBOUND:
        return 0;
    default:
        return -XEN_EINVAL;
    }
}

/* The event of a send that passed send_target: metered, then rd's port set pending. Returns 0. */
static inline __attribute__((always_inline)) long send_event(struct domain *d, struct domain *rd, evtchn_port_t rport)
{
    d->meter.events_sent++;
    rd->meter.events_received++;
    return set_pending(rd, rport);
}

/* EVTCHNOP_send on d's port. */
static inline __attribute__((always_inline)) long send_on(struct domain *d, uint64_t port)
{
    struct domain *rd;
    evtchn_port_t rport;
    long rc = send_target(d, port, &rd, &rport);
    if (rc <= 0)
        return rc;
    return send_event(d, rd, rport);
}

/* SCHEDOP_send_poll's send on a port whose event is for v's own domain (an IPI or loopback port)
 * while the poll port is not pending: the event may be the one polled for, so it is sent first,
 * then looked for. Out of line: the usual send, to another domain, needs no frame. */
static __attribute__((__noinline__)) long send_poll_self(struct vcpu *v, evtchn_port_t rport, uint64_t poll)
{
    struct domain *d = v->domain;
    send_event(d, d, rport);
    if (test_bit(domain_shared_info(d)->evtchn_pending, (unsigned)poll))
        return 0;
    return sched_poll_sleep(v);
}

/*
 * SCHEDOP_send_poll (public/sched.h), called by do_sched_op for v, the caller: poll must be a valid
 * port (else -EINVAL before anything is done); send, unless 0, is sent on as by EVTCHNOP_send (its
 * error returned, no sleep). Then 0 at once if poll is pending, else v sleeps polling
 * (sched_poll_sleep). Both come in 64-bit registers: a value of 2^32 or more is past max_ports like
 * any other (-EINVAL), never the port of its low bits. Here rather than in sched.c, so that the
 * checks, the test, the sleep and the send make one frame-less call.
 *
 * An event for another domain cannot make v's poll port pending, so the test is made before it
 * is sent and v, unless its port is pending already, sleeps first: the send, a jump to
 * set_pending, is then the last thing done (the same outcome as sending first: everything here
 * holds the hypervisor lock). A send to v's own domain is made first (send_poll_self).
 */
long evtchn_send_poll(struct vcpu *v, uint64_t send, uint64_t poll)
{
    struct domain *d = v->domain;
    uint64_t mask;
    if (poll == 0 || !array_index_check_nospec(poll, table(d)->max_ports, &mask))
        return -XEN_EINVAL;
    poll &= mask;
    bool ready = test_bit(domain_shared_info(d)->evtchn_pending, (unsigned)poll);
    if (send) {
        struct domain *rd;
        evtchn_port_t rport;
        long rc = send_target(d, send, &rd, &rport);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            if (!ready && rd == d)
                return send_poll_self(v, rport, poll);
            if (!ready)
                sched_poll_sleep(v);
            return send_event(d, rd, rport);
        }
    }
    return ready ? 0 : sched_poll_sleep(v);
}

static long evtchn_status(struct domain *d, struct evtchn_status *st)
{
    struct domain *owner = resolve(d, st->dom);
    if (!owner)
        return xsm_no_domain(d, st->dom, -XEN_EPERM);
    int rc = xsm_foreign_evtchn(d, owner, false);
    if (rc)
        return rc;
    if (!evtchn_port_valid(owner, st->port) && st->port != 0)
        return -XEN_EINVAL;
    const struct evtchn *chn = &table(owner)->ports[port_nospec(owner, st->port)];
    memset(&st->u, 0, sizeof(st->u));
    st->vcpu = table(owner)->notify_vcpu[port_nospec(owner, st->port)];
    switch (chn->state) {
    case ECS_UNBOUND:
        st->status = EVTCHNSTAT_unbound;
        st->u.unbound.dom = chn->remote_dom;
        break;
    case ECS_INTERDOMAIN:
        st->status = EVTCHNSTAT_interdomain;
        st->u.interdomain.dom = chn->remote_dom;
        st->u.interdomain.port = chn->remote_port;
        break;
    case ECS_VIRQ:
        st->status = EVTCHNSTAT_virq;
        st->u.virq = chn->virq;
        break;
    case ECS_IPI:
        st->status = EVTCHNSTAT_ipi;
        break;
    default:
        st->status = EVTCHNSTAT_closed;
        break;
    }
    return 0;
}

static long evtchn_unmask(struct domain *d, evtchn_port_t port)
{
    if (!evtchn_port_valid(d, port))
        return -XEN_EINVAL;
    port = port_nospec(d, port);
    struct shared_info *s = domain_shared_info(d);
    clear_bit(s->evtchn_mask, port);
    /* A port that became pending while masked is raised now, on the vCPU it is bound to. */
    if (test_bit(s->evtchn_pending, port))
        raise_on(d, s, table(d)->notify_vcpu[port], port);
    return 0;
}

static void close_all(struct domain *d, domid_t peer_may_bind, bool notify)
{
    struct evtchn_table *t = table(d);
    for (uint32_t p = 1; p < t->max_ports; p++)
        if (t->ports[p].state != ECS_FREE)
            close_port(d, p, peer_may_bind, notify);
}

static long evtchn_reset(struct domain *d, domid_t dom)
{
    struct domain *owner = resolve(d, dom);
    if (!owner)
        return xsm_no_domain(d, dom, -XEN_EPERM);
    int rc = xsm_foreign_evtchn(d, owner, true);
    if (rc)
        return rc;
    close_all(owner, owner->domid, false);
    return 0;
}

/*
 * Ports of other domains that are unbound *for* d name its domain id, which the next domain
 * created may reuse: they become unbound to no one (with an event, as for a bound peer), so no
 * new domain can bind a channel meant for the dead one.
 */
static void forget_remote(struct domain *d)
{
    struct domain *o;
    for (uint64_t w = domain_live_slots(); (o = domain_next_live(&w));) {
        if (o == d)
            continue;
        struct evtchn_table *t = table(o);
        for (uint32_t p = 1; p < t->max_ports; p++)
            if (t->ports[p].state == ECS_UNBOUND && t->ports[p].remote_dom == d->domid) {
                t->ports[p].remote_dom = DOMID_INVALID;
                set_pending(o, p);
            }
    }
}

void evtchn_destroy(struct domain *d)
{
    close_all(d, DOMID_INVALID, true);
    /* Every port is closed: a count of interdomain ports left over (or wrapped below zero)
     * would mean policy sweeps skip channels they must revoke. */
    BUG_ON(table(d)->interdomain != 0);
    forget_remote(d);
}

void evtchn_revoke(struct domain *d, evtchn_port_t port)
{
    if (table(d)->ports[port].state != ECS_INTERDOMAIN)
        return;
    /* The peer's end becomes unbound to no one, with an event; ours the same. */
    close_port(d, port, DOMID_INVALID, true);
    claim_port(d, port, ECS_UNBOUND);
    table(d)->ports[port].remote_dom = DOMID_INVALID;
    set_pending(d, port);
}

void evtchn_for_each_interdomain(struct domain *d,
                                 void (*fn)(struct domain *d, evtchn_port_t port, struct domain *rd, void *ctx),
                                 void *ctx)
{
    struct evtchn_table *t = table(d);
    /*
     * Stops at the last interdomain port: `kept` counts those met that fn left open, and
     * t->interdomain counts those still open. fn never opens a port; it may close the one it is
     * given and, for a loopback channel, the other end, which lies further on (an earlier one
     * would have been met first) and which the table's count then drops too. With a count of
     * the ports as they were at the start instead, a revoked loopback channel made the walk run
     * on to max_ports.
     */
    for (uint32_t p = 1, kept = 0; kept < t->interdomain && p < t->max_ports; p++) {
        if (t->ports[p].state != ECS_INTERDOMAIN)
            continue;
        fn(d, p, peer_of(&t->ports[p]), ctx);
        kept += t->ports[p].state == ECS_INTERDOMAIN;
    }
}

void evtchn_send_virq(struct domain *d, unsigned virq)
{
    uint32_t port = table(d)->virq_to_port[0][virq];
    if (port)
        set_pending(d, port);
}

void evtchn_send_vcpu_virq(struct vcpu *v, unsigned virq)
{
    uint32_t port = table(v->domain)->virq_to_port[v->vcpu_id][virq];
    if (port)
        set_pending(v->domain, port);
}

evtchn_port_t evtchn_virq_port(struct domain *d, unsigned virq)
{
    return virq < NR_VIRQS ? table(d)->virq_to_port[0][virq] : 0;
}

void evtchn_revoke_virq(struct domain *d, unsigned virq)
{
    evtchn_port_t port = evtchn_virq_port(d, virq);
    if (!port)
        return;
    /* As a revoked channel: the port stays allocated, unbound to no one, and pending. */
    close_port(d, port, DOMID_INVALID, false);
    claim_port(d, port, ECS_UNBOUND);
    table(d)->ports[port].remote_dom = DOMID_INVALID;
    set_pending(d, port);
}

void evtchn_notify_dom_exc(uint32_t dead_ssidref)
{
    struct domain *d;
    for (uint64_t w = domain_live_slots(); (d = domain_next_live(&w));) {
        /* A death is news only to a watcher that may read the state of the dead domain's label. */
        if (table(d)->virq_to_port[0][VIRQ_DOM_EXC] && xsm_watch_sees(d, dead_ssidref))
            evtchn_send_virq(d, VIRQ_DOM_EXC);
    }
}

/* An op with a result in its argument: copied back only when it succeeded, so the guest never
 * sees half a result. */
static long result_to_guest(long rc, uint64_t arg, const void *a, size_t size)
{
    if (rc == 0 && copy_to_guest(arg, a, size))
        return -XEN_EFAULT;
    return rc;
}

/* Each op copies its argument in whole first; ops with no result beyond the return value copy
 * nothing back (send is the hot path: one copy, and do_event_channel_op's own small frame). */
static __attribute__((__noinline__)) long evtchn_op(struct domain *d, uint64_t cmd, uint64_t arg)
{
    switch (cmd) {
    case EVTCHNOP_alloc_unbound: {
        struct evtchn_alloc_unbound a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return result_to_guest(alloc_unbound(d, &a), arg, &a, sizeof(a));
    }
    case EVTCHNOP_bind_interdomain: {
        struct evtchn_bind_interdomain a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return result_to_guest(bind_interdomain(d, &a), arg, &a, sizeof(a));
    }
    case EVTCHNOP_bind_virq: {
        struct evtchn_bind_virq a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return result_to_guest(bind_virq(d, &a), arg, &a, sizeof(a));
    }
    case EVTCHNOP_bind_ipi: {
        struct evtchn_bind_ipi a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return result_to_guest(bind_ipi(d, &a), arg, &a, sizeof(a));
    }
    case EVTCHNOP_bind_vcpu: {
        struct evtchn_bind_vcpu a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return bind_vcpu(d, &a);
    }
    case EVTCHNOP_status: {
        struct evtchn_status a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return result_to_guest(evtchn_status(d, &a), arg, &a, sizeof(a));
    }
    case EVTCHNOP_close: {
        struct evtchn_close a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return evtchn_close(d, a.port);
    }
    case EVTCHNOP_unmask: {
        struct evtchn_unmask a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return evtchn_unmask(d, a.port);
    }
    case EVTCHNOP_reset: {
        struct evtchn_reset a;
        if (copy_from_guest(&a, arg, sizeof(a)))
            return -XEN_EFAULT;
        return evtchn_reset(d, a.dom);
    }
    default:
        return -XEN_ENOSYS;
    }
}

long do_event_channel_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a3, (void)a4, (void)a5;
    if (cmd == EVTCHNOP_send) { /* the hot one: its 4-byte struct read with one checked load */
        _Static_assert(sizeof(struct evtchn_send) == sizeof(uint32_t), "evtchn_send is its port");
        uint32_t port;
        if (!get_u32_from_guest(arg, &port))
            return -XEN_EFAULT;
        return send_on(current_domain(), port); /* current read after the load: nothing to keep across it */
    }
    return evtchn_op(current_domain(), cmd, arg);
}
