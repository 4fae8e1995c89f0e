// SPDX-License-Identifier: MIT
// The guest event-channel library (moat/evtchn.h): op wrappers, port bitmaps, per-port handlers
// dispatched by the 2-level scan, a blocking wait and an event loop.
#include <moat/evtchn.h>
#include <moat/guest.h>
#include <moat/upcall.h>
#include <moat/vcpu.h>

#define WORD(port) ((port) / 64)
#define BIT(port) (1ULL << ((port) % 64))

static struct {
    evtchn_handler_t fn;
    void *data;
} handlers[EVTCHN_LIB_PORTS];

// The vCPU each port is bound to (bind_ipi, bind_virq, bind_vcpu; 0 otherwise): a vCPU's
// dispatcher takes only its own ports, and leaves the others pending for their vCPU's upcall.
// Defined by vcpu.c, which only guests that start vCPUs link: the others keep their 4 KiB of
// .bss and see NULL here (a weak reference), and every port is vCPU 0's.
extern uint8_t evtchn_port_vcpu[EVTCHN_LIB_PORTS] __attribute__((weak));

// Handler-less ports the dispatcher took off the pending bitmap since a waiter last looked
// (evtchn_wait): their events are latched here rather than lost.
static uint64_t fired[EVTCHN_LIB_PORTS / 64];

volatile uint64_t evtchn_upcall_count;

// Our own vcpu_info: each vCPU masks, and takes upcalls, on its own (moat/vcpu.h).
static struct vcpu_info *vcpu(void) { return &shared_info->vcpu_info[vcpu_self()]; }

static bool lib_port(evtchn_port_t port) { return port > 0 && port < EVTCHN_LIB_PORTS; }

// ---- upcall masking ----

uint8_t evtchn_upcalls_mask(void)
{
    uint8_t old = __atomic_exchange_n(&vcpu()->evtchn_upcall_mask, 1, __ATOMIC_SEQ_CST);
    return old;
}

// evtchn_upcalls_restore on our vcpu_info vi, for a caller that has it at hand (evtchn_loop).
static inline void upcalls_restore_on(struct vcpu_info *vi, uint8_t old)
{
    __atomic_store_n(&vi->evtchn_upcall_mask, old, __ATOMIC_SEQ_CST);
    // The hypervisor delivers upcalls only on its way back into the guest: if one became pending
    // while we were masked, take it now rather than at the next interrupt. Any hypercall will do.
    if (!old && __atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST))
        HYPERVISOR_xen_version(XENVER_version, NULL);
}

void evtchn_upcalls_restore(uint8_t old) { upcalls_restore_on(vcpu(), old); }

// A port number the hypervisor has just handed out (or taken back) starts with no handler and
// no recorded event of an earlier user of the same number.
static void forget_port(evtchn_port_t port)
{
    if (!lib_port(port))
        return;
    handlers[port].fn = NULL;
    handlers[port].data = NULL;
    // cppcheck-suppress knownConditionTrueFalse ; weak: NULL unless vcpu.c is linked
    if (evtchn_port_vcpu)
        evtchn_port_vcpu[port] = 0;
    __atomic_fetch_and(&fired[WORD(port)], ~BIT(port), __ATOMIC_SEQ_CST);
}

// Runs one op that may hand out a port. Upcalls stay masked across it so the dispatcher cannot
// see the new port (a bound interdomain port starts pending) before its slot is cleared; the
// event is then delivered on restore, to whatever handler the caller installs later or to
// evtchn_wait.
static long new_port_op(int cmd, void *arg, const evtchn_port_t *out)
{
    uint8_t old = evtchn_upcalls_mask();
    long rc = HYPERVISOR_event_channel_op(cmd, arg);
    if (rc == 0) {
        forget_port(*out);
        rc = *out;
    }
    evtchn_upcalls_restore(old);
    return rc;
}

// ---- the ops ----

long evtchn_alloc_unbound_in(domid_t dom, domid_t remote)
{
    struct evtchn_alloc_unbound op = { .dom = dom, .remote_dom = remote };
    return new_port_op(EVTCHNOP_alloc_unbound, &op, &op.port);
}

long evtchn_alloc_unbound(domid_t remote) { return evtchn_alloc_unbound_in(DOMID_SELF, remote); }

long evtchn_bind_interdomain(domid_t remote, evtchn_port_t remote_port)
{
    struct evtchn_bind_interdomain op = { .remote_dom = remote, .remote_port = remote_port };
    return new_port_op(EVTCHNOP_bind_interdomain, &op, &op.local_port);
}

// A port just bound for vcpu_id: the dispatcher of that vCPU takes it.
static long bound_to(long port, uint32_t vcpu_id)
{
    // cppcheck-suppress knownConditionTrueFalse ; weak: NULL unless vcpu.c is linked
    if (evtchn_port_vcpu && port > 0 && port < EVTCHN_LIB_PORTS)
        __atomic_store_n(&evtchn_port_vcpu[port], (uint8_t)vcpu_id, __ATOMIC_SEQ_CST);
    return port;
}

long evtchn_bind_virq(uint32_t virq, uint32_t vcpu_id)
{
    struct evtchn_bind_virq op = { .virq = virq, .vcpu = vcpu_id };
    return bound_to(new_port_op(EVTCHNOP_bind_virq, &op, &op.port), vcpu_id);
}

long evtchn_bind_ipi(uint32_t vcpu_id)
{
    struct evtchn_bind_ipi op = { .vcpu = vcpu_id };
    return bound_to(new_port_op(EVTCHNOP_bind_ipi, &op, &op.port), vcpu_id);
}

long evtchn_bind_vcpu(evtchn_port_t port, uint32_t vcpu_id)
{
    struct evtchn_bind_vcpu op = { .port = port, .vcpu = vcpu_id };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &op);
    if (rc == 0)
        bound_to(port, vcpu_id);
    return rc;
}

// evtchn_send is in evtchn_send.S (no stack frame: the hot path of every event); its numbers:
_Static_assert(sizeof(struct evtchn_send) == 4 && EVTCHNOP_send == 4 && __HYPERVISOR_event_channel_op == 32,
               "evtchn_send.S's numbers");

long evtchn_close(evtchn_port_t port)
{
    struct evtchn_close op = { .port = port };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_close, &op);
    if (rc == 0)
        forget_port(port);
    return rc;
}

long evtchn_status(domid_t dom, evtchn_port_t port, struct evtchn_status *st)
{
    memset(st, 0, sizeof(*st));
    st->dom = dom;
    st->port = port;
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, st);
}

long evtchn_unmask(evtchn_port_t port)
{
    struct evtchn_unmask op = { .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &op);
}

long evtchn_reset(domid_t dom)
{
    struct evtchn_reset op = { .dom = dom };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_reset, &op);
    if (rc == 0 && (dom == DOMID_SELF || dom == start_info->domid))
        for (evtchn_port_t p = 1; p < EVTCHN_LIB_PORTS; p++)
            forget_port(p);
    return rc;
}

long evtchn_connect(domid_t remote, evtchn_port_t remote_port, uint64_t deadline_ns)
{
    for (;;) {
        long rc = evtchn_bind_interdomain(remote, remote_port);
        // -EINVAL: the port is not unbound for us yet; -ESRCH: the peer is not built yet.
        if (rc >= 0 || (rc != -XEN_EINVAL && rc != -XEN_ESRCH))
            return rc;
        if (deadline_ns && now_ns() >= deadline_ns)
            return rc;
        sched_yield();
    }
}

// ---- port helpers ----

bool evtchn_port_pending(evtchn_port_t port)
{
    return lib_port(port) && (__atomic_load_n(&shared_info->evtchn_pending[WORD(port)], __ATOMIC_SEQ_CST) & BIT(port));
}

bool evtchn_port_masked(evtchn_port_t port)
{
    return lib_port(port) && (__atomic_load_n(&shared_info->evtchn_mask[WORD(port)], __ATOMIC_SEQ_CST) & BIT(port));
}

void evtchn_port_mask(evtchn_port_t port)
{
    if (lib_port(port))
        __atomic_fetch_or(&shared_info->evtchn_mask[WORD(port)], BIT(port), __ATOMIC_SEQ_CST);
}

void evtchn_port_unmask(evtchn_port_t port)
{
    if (!lib_port(port))
        return;
    __atomic_fetch_and(&shared_info->evtchn_mask[WORD(port)], ~BIT(port), __ATOMIC_SEQ_CST);
    // An event that arrived while masked set only the pending bit (no selector, no upcall): the
    // hypervisor's unmask raises it. One that arrives after our clear is raised as usual; both
    // at once still give one handler call, since there is one pending bit.
    if (evtchn_port_pending(port))
        evtchn_unmask(port);
}

void evtchn_port_clear(evtchn_port_t port)
{
    if (lib_port(port))
        __atomic_fetch_and(&shared_info->evtchn_pending[WORD(port)], ~BIT(port), __ATOMIC_SEQ_CST);
}

bool evtchn_port_test_and_clear(evtchn_port_t port)
{
    return lib_port(port) &&
           (__atomic_fetch_and(&shared_info->evtchn_pending[WORD(port)], ~BIT(port), __ATOMIC_SEQ_CST) & BIT(port));
}

// ---- handlers and dispatch ----

long evtchn_init(void)
{
    uint8_t old = evtchn_upcalls_mask();
    for (evtchn_port_t p = 1; p < EVTCHN_LIB_PORTS; p++)
        forget_port(p);
    evtchn_upcall_count = 0;
    long rc = HYPERVISOR_set_callbacks(upcall_entry_form(evtchn_upcall_entry, evtchn_upcall_entry_fx), 0);
    evtchn_upcalls_restore(rc == 0 ? 0 : old);
    return rc;
}

void evtchn_set_handler(evtchn_port_t port, evtchn_handler_t fn, void *data)
{
    if (!lib_port(port))
        return;
    uint8_t old = evtchn_upcalls_mask(); // the dispatcher must never see fn and data disagree
    handlers[port].fn = fn;
    handlers[port].data = data;
    evtchn_upcalls_restore(old);
}

// The index of x's lowest set bit (x not 0), as a 64-bit value: __builtin_ctzll's int would be
// sign-extended again for each index, and GCC clears the result register first. With the same
// register in and out, the instruction waits on nothing but x itself. (tzcnt: bsf where BMI1 is
// missing, the same for any x but 0.)
static inline __attribute__((always_inline)) uint64_t lowest_bit(uint64_t x)
{
    __asm__("tzcnt %0, %0" : "+r"(x) : : "cc");
    return x;
}

// The port of bit (one bit) in word w, pending and unmasked, found by the scan of an upcall on
// vCPU me: taken, unless port_vcpu (evtchn_port_vcpu, or NULL: every port is vCPU 0's) says it is
// another vCPU's.
static inline __attribute__((always_inline)) void take_port(struct shared_info *s, uint64_t w, uint64_t bit,
                                                            const uint8_t *port_vcpu, unsigned me)
{
    uint64_t port = w * 64 + lowest_bit(bit);
    if (port_vcpu && port_vcpu[port] != me)
        return; // another vCPU's: its own upcall takes it
    // Cleared before the handler runs, so an event sent meanwhile is not lost.
    __atomic_fetch_and(&s->evtchn_pending[w], ~bit, __ATOMIC_SEQ_CST);
    // Read afresh: an earlier handler may have closed this port (Linux XSA-331).
    evtchn_handler_t fn = handlers[port].fn;
    if (fn)
        fn((evtchn_port_t)port, handlers[port].data);
    else
        __atomic_fetch_or(&fired[w], bit, __ATOMIC_SEQ_CST);
}

// The pending, unmasked ports of word w of s (our shared_info, in a local: the atomics would make
// the global be read again at each access).
static inline __attribute__((always_inline)) uint64_t ready_in(struct shared_info *s, uint64_t w)
{
    return __atomic_load_n(&s->evtchn_pending[w], __ATOMIC_SEQ_CST) &
           ~__atomic_load_n(&s->evtchn_mask[w], __ATOMIC_SEQ_CST);
}

// The scan of the selector words sel (taken from vCPU me's vcpu_info) for their ports.
static inline __attribute__((always_inline)) void scan(uint64_t sel, const uint8_t *port_vcpu, unsigned me)
{
    while (sel) {
        uint64_t w = lowest_bit(sel);
        sel &= sel - 1;
        for (uint64_t ready = ready_in(shared_info, w); ready; ready &= ready - 1)
            take_port(shared_info, w, ready & -ready, port_vcpu, me);
    }
}

// Takes the selector of vCPU me's vcpu_info vi. Xen's order: the flag, then the selector, then
// each port. An event arriving during the scan sets the flag again and is delivered right after
// our iret.
static inline __attribute__((always_inline)) uint64_t take_selector(struct vcpu_info *vi)
{
    // One read-modify-write instruction: the count is only ever written here, in an upcall of
    // this vCPU, so no lock is needed (a plain ++ of a volatile is a load, an add and a store).
    __asm__ volatile("incq %0" : "+m"(evtchn_upcall_count));
    // A release store: the exchange below (sequentially consistent, so a release too) cannot be
    // seen before it, which is all Xen's order asks; no locked instruction is needed for the flag.
    __atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_RELEASE);
    return __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
}

// The scan with ports bound to several vCPUs: the dispatcher of guests that link vcpu.c (which
// calls this from its own evtchn_upcall_handler, replacing the one below).
void evtchn_dispatch_vcpus(void);
void evtchn_dispatch_vcpus(void)
{
    unsigned me = vcpu_self();
    scan(take_selector(&shared_info->vcpu_info[me]), evtchn_port_vcpu, me);
}

static __attribute__((noinline)) void scan_vcpu0(uint64_t sel) { scan(sel, NULL, 0); }

// The dispatcher of a guest that starts no other vCPU (vcpu.c, which defines the one for guests
// with vCPUs, not linked): every port is vCPU 0's, and (nearly always) one port is ready. That one
// port is taken with its handler as the last call (a jump: nothing is kept across it, so no
// registers are saved); more go to the loop. Weak, so that which of the two a guest has is decided
// when it is linked, not tested at each upcall.
__attribute__((weak)) void evtchn_upcall_handler(struct upcall_frame *frame)
{
    (void)frame;
    struct shared_info *s = shared_info;
    uint64_t sel = take_selector(&s->vcpu_info[0]);
    if (sel && !(sel & (sel - 1))) {
        uint64_t w = lowest_bit(sel);
        uint64_t ready = ready_in(s, w);
        if (ready && !(ready & (ready - 1))) {
            take_port(s, w, ready, NULL, 0);
            return;
        }
    }
    scan_vcpu0(sel);
}

// ---- waiting ----

bool evtchn_take_fired(evtchn_port_t port)
{
    return lib_port(port) && (__atomic_fetch_and(&fired[WORD(port)], ~BIT(port), __ATOMIC_SEQ_CST) & BIT(port));
}

long evtchn_wait(evtchn_port_t port, uint64_t deadline_ns)
{
    if (!lib_port(port))
        return -XEN_EINVAL;
    // With upcalls masked the dispatcher cannot take the event between our check and the poll;
    // the poll itself returns at once if the port is pending, and otherwise sleeps until an event
    // (for any port: we then look again) or the deadline.
    uint8_t old = evtchn_upcalls_mask();
    long rc;
    for (;;) {
        if (evtchn_take_fired(port) || evtchn_port_test_and_clear(port)) {
            rc = 0;
            break;
        }
        if (deadline_ns && now_ns() >= deadline_ns) {
            rc = -XEN_ETIMEDOUT;
            break;
        }
        rc = sched_poll(&port, 1, deadline_ns);
        if (rc < 0)
            break;
    }
    evtchn_upcalls_restore(old);
    return rc;
}

// One SCHEDOP_send_poll of evtchn_send_wait, then the event taken (bit, BIT(port), in its pending
// word) if it is there: 1 if it was, 0 if another port's event woke us, or the hypercall's error.
static inline __attribute__((always_inline)) long send_poll_take(evtchn_port_t send, evtchn_port_t port,
                                                                 uint64_t bit)
{
    long rc = sched_send_poll(send, port);
    if (rc < 0)
        return rc;
    if (__atomic_fetch_and(&shared_info->evtchn_pending[WORD(port)], ~bit, __ATOMIC_SEQ_CST) & bit)
        return 1;
    return 0;
}

// evtchn_send_wait after a wake-up by another port's event: sleep again, without sending twice.
static __attribute__((noinline)) long send_wait_again(evtchn_port_t port)
{
    uint64_t bit = BIT(port);
    long rc;
    while ((rc = send_poll_take(0, port, bit)) == 0)
        ;
    return rc < 0 ? rc : 0;
}

long evtchn_send_wait(evtchn_port_t send, evtchn_port_t port)
{
    if (!lib_port(port))
        return -XEN_EINVAL;
    uint64_t bit = BIT(port);
    /* Latched by the dispatcher before: no sleep, only the send. (A plain look first: with upcalls
     * masked, as the caller keeps them, no dispatcher of this vCPU runs meanwhile, and another
     * vCPU's latches only its own ports.) */
    if ((__atomic_load_n(&fired[WORD(port)], __ATOMIC_RELAXED) & bit) && evtchn_take_fired(port))
        return send ? evtchn_send(send) : 0;
    // The usual case, the answer there when the one hypercall returns, without the loop.
    long rc = send_poll_take(send, port, bit);
    if (rc < 0)
        return rc;
    return rc ? 0 : send_wait_again(port);
}

// evtchn_loop, made twice from this one body: with a deadline (loop_until) and without one (the
// usual event loop, whose deadline is then a constant 0: no timer, no clock, and fewer registers
// kept across the calls, so a loop entered for each event costs little to enter and leave).
static inline __attribute__((always_inline)) long loop(bool (*done)(void *ctx), void *ctx, uint64_t deadline_ns)
{
    long rc = deadline_ns ? timer_bind() : 0;
    if (rc < 0)
        return rc;
    struct vcpu_info *vi = vcpu(); // ours for the whole loop: a vCPU runs its own loop
    // One register for it (else the compiler keeps shared_info and our offset apart, on the stack).
    __asm__("" : "+r"(vi));
    uint8_t old = __atomic_exchange_n(&vi->evtchn_upcall_mask, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        if (done(ctx)) {
            rc = 0;
            break;
        }
        if (deadline_ns) {
            if (now_ns() >= deadline_ns) {
                rc = -XEN_ETIMEDOUT;
                break;
            }
            // Re-armed every round, as sleep_until does: a wake-up our clock sees as early must
            // not leave us blocked with no timer left.
            rc = HYPERVISOR_set_timer_op(deadline_ns);
            if (rc < 0)
                break;
        }
        // Unmasks upcalls and sleeps in one step, returning at once if one is pending: the
        // upcall (and so the handlers) runs on the way back, and we look at done again.
        rc = sched_block();
        if (rc < 0)
            break;
        // The block unmasked upcalls (and the upcall that woke us has run): masked again while
        // we look at done.
        __atomic_store_n(&vi->evtchn_upcall_mask, 1, __ATOMIC_SEQ_CST);
    }
    if (deadline_ns)
        HYPERVISOR_set_timer_op(0);
    upcalls_restore_on(vi, old);
    return rc;
}

static __attribute__((noinline)) long loop_until(bool (*done)(void *ctx), void *ctx, uint64_t deadline_ns)
{
    return loop(done, ctx, deadline_ns);
}

long evtchn_loop(bool (*done)(void *ctx), void *ctx, uint64_t deadline_ns)
{
    if (deadline_ns)
        return loop_until(done, ctx, deadline_ns);
    return loop(done, ctx, 0);
}
