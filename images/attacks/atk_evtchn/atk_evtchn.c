// SPDX-License-Identifier: MIT
// Event-channel attacks of the classes in Xen's advisories (numbers in the comments): ports out
// of range, polling bad ports, state left behind by a denial, exhaustion, VIRQ abuse, binding
// ports meant for others, resets. Label red; blue=<domid> is a domain we share nothing with.
// Modes: attack blue=<domid>   |   victim
#include "../common/attack.h"

static long close_port(evtchn_port_t p) { return evtchn_close(p); }

static void ranges(void)
{
    /* XSA-342 and friends: every op that takes a port, at and past the limits. */
    static const evtchn_port_t bad[] = {0, EVTCHN_DEFAULT_PORTS, EVTCHN_MAX_PORTS, 0x7fffffffu, 0xffffffffu};
    bool all = true;
    struct evtchn_status st;
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        all &= evtchn_send(bad[i]) == -XEN_EINVAL;
        all &= close_port(bad[i]) == -XEN_EINVAL;
        all &= evtchn_unmask(bad[i]) == -XEN_EINVAL;
        all &= bad[i] == 0 || evtchn_status(DOMID_SELF, bad[i], &st) == -XEN_EINVAL;
        all &= evtchn_bind_interdomain(DOMID_SELF, bad[i]) == -XEN_EINVAL;
    }
    verdict("evtchn-port-out-of-range", all, "a port out of range was accepted");
    /* XSA-221: polling ports that do not exist, or too many. */
    evtchn_port_t ports[2] = {1, 0xffffffffu};
    struct sched_poll p = {.ports = (uint64_t)(uintptr_t)ports, .nr_ports = 2, .timeout = 1};
    long a = HYPERVISOR_sched_op(SCHEDOP_poll, &p);
    p.nr_ports = 0xffffffffu;
    long b = HYPERVISOR_sched_op(SCHEDOP_poll, &p);
    verdict("evtchn-poll-bad-ports", a == -XEN_EINVAL && b == -XEN_EINVAL, "%ld %ld", a, b);
    /* VIRQs: numbers past the table, other vCPUs, twice. */
    long v1 = evtchn_bind_virq(NR_VIRQS, 0), v2 = evtchn_bind_virq(0xffffffffu, 0), v3 = evtchn_bind_virq(0, 1);
    long t = evtchn_bind_virq(VIRQ_TIMER, 0), t2 = evtchn_bind_virq(VIRQ_TIMER, 0);
    verdict("evtchn-virq-abuse", v1 == -XEN_EINVAL && v2 == -XEN_EINVAL && v3 == -XEN_ENOENT && t > 0 &&
                                     t2 == -XEN_EEXIST,
            "%ld %ld %ld %ld %ld", v1, v2, v3, t, t2);
    if (t > 0)
        close_port((evtchn_port_t)t);
}

static void denial_and_exhaustion(domid_t blue)
{
    /* XSA-47: a denied alloc_unbound leaves no port behind (the next one gets the same number). */
    long before = evtchn_alloc_unbound(DOMID_SELF);
    close_port((evtchn_port_t)before);
    long denied = evtchn_alloc_unbound(blue);
    long after = evtchn_alloc_unbound(DOMID_SELF);
    verdict("evtchn-denial-leaves-nothing", denied == -XEN_EACCES && after == before, "denied %ld, ports %ld then %ld",
            denied, before, after);
    if (after > 0)
        close_port((evtchn_port_t)after);
    /* XSA-496: every port taken, then the binds that need one fail cleanly; one freed is reused. */
    long last = 0, n = 0;
    for (;;) {
        long port = evtchn_alloc_unbound(DOMID_SELF);
        if (port < 0) {
            last = port;
            break;
        }
        n++;
    }
    long virq = evtchn_bind_virq(VIRQ_TIMER, 0), ipi = evtchn_bind_ipi(0);
    close_port(7);
    long again = evtchn_bind_ipi(0);
    verdict("evtchn-exhaustion", last == -XEN_ENOSPC && virq == -XEN_ENOSPC && ipi == -XEN_ENOSPC && again == 7,
            "%ld ports then %ld; virq %ld ipi %ld; after freeing port 7: %ld", n, last, virq, ipi, again);
    /* XSA-343: reset of our own table with everything bound; then it all works again. */
    long r = evtchn_reset(DOMID_SELF);
    long fresh = evtchn_alloc_unbound(DOMID_SELF);
    verdict("evtchn-reset-full-table", r == 0 && fresh == 1, "reset %ld, then port %ld", r, fresh);
    if (fresh > 0)
        close_port((evtchn_port_t)fresh);
}

static void others_ports(domid_t blue)
{
    /* A port unbound for someone else (here: for a domain id that is free) is not ours to bind. */
    long mine = evtchn_alloc_unbound(DOMID_SELF);
    struct evtchn_alloc_unbound a = {.dom = DOMID_SELF, .remote_dom = DOMID_SELF};
    long loop = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &a);
    long bound = loop == 0 ? evtchn_bind_interdomain(DOMID_SELF, a.port) : loop;
    long twice = loop == 0 ? evtchn_bind_interdomain(DOMID_SELF, a.port) : loop;
    verdict("evtchn-bind-twice", bound > 0 && twice == -XEN_EINVAL, "first bind %ld, second %ld", bound, twice);
    /* Binding a port of the blue domain: there is none for us, whatever the number. */
    bool none = true;
    for (evtchn_port_t p = 1; p < 8; p++)
        none &= evtchn_bind_interdomain(blue, p) == -XEN_EINVAL;
    verdict("evtchn-bind-others-ports", none, "a port of a domain we share nothing with was bound");
    /* Sending on and closing ports we never had. */
    verdict("evtchn-closed-port-ops", evtchn_send(900) == -XEN_EINVAL && close_port(900) == -XEN_EINVAL &&
                                          close_port((evtchn_port_t)mine) == 0 && evtchn_send((evtchn_port_t)mine) ==
                                          -XEN_EINVAL,
            "a free port took an op");
}

static void attack(void)
{
    domid_t blue = (domid_t)cmdline_ulong("blue", DOMID_INVALID);
    ranges();
    denial_and_exhaustion(blue);
    others_ports(blue);
}

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {{"attack", attack}, {"victim", attack_sleep_forever}};
    return attack_main(modes, ARRAY_SIZE(modes));
}
