/* SPDX-License-Identifier: MIT */
/*
 * event_channel_op(cmd, arg): Xen's 2-level event channels. Op numbers, structures, states and
 * error codes follow Xen. Deviations from Xen:
 *  - alloc_unbound needs remote_dom to exist (-ESRCH otherwise): the MAC check needs its label.
 *  - When a domain dies, its peers' ports become unbound *to no one* (DOMID_INVALID, so a new
 *    domain reusing the id cannot bind to them) and are set pending so the peers notice; so do
 *    ports other domains had allocated for it (unbound to it) but that it never bound.
 *  - alloc_unbound and bind_interdomain are checked by the MAC policy (-EACCES when denied).
 *  - The MAC module may close both ends of a channel when the policy changes (revocation): both
 *    ends then read as unbound to no one, and both get an event.
 */
#ifndef MOAT_PUBLIC_EVENT_CHANNEL_H
#define MOAT_PUBLIC_EVENT_CHANNEL_H

#include "hv.h"

typedef uint32_t evtchn_port_t;

#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_bind_virq 1
#define EVTCHNOP_close 3
#define EVTCHNOP_send 4
#define EVTCHNOP_status 5
#define EVTCHNOP_alloc_unbound 6
#define EVTCHNOP_bind_ipi 7
#define EVTCHNOP_bind_vcpu 8
#define EVTCHNOP_unmask 9
#define EVTCHNOP_reset 10

/* Ports per domain: default and most (the 2-level ABI's 4096 for 64-bit guests). Port 0 is never used. */
#define EVTCHN_DEFAULT_PORTS 1024
#define EVTCHN_MAX_PORTS 4096

#define VIRQ_TIMER 0   /* per vCPU: the set_timer_op deadline passed */
#define VIRQ_DOM_EXC 3 /* global: a domain died (for domains the policy lets watch others) */
#define NR_VIRQS 24

struct evtchn_alloc_unbound {
    domid_t dom, remote_dom; /* IN */
    evtchn_port_t port;      /* OUT */
};

struct evtchn_bind_interdomain {
    domid_t remote_dom;       /* IN */
    uint16_t pad;
    evtchn_port_t remote_port; /* IN */
    evtchn_port_t local_port;  /* OUT */
};

struct evtchn_bind_virq {
    uint32_t virq, vcpu; /* IN */
    evtchn_port_t port;  /* OUT */
};

struct evtchn_bind_ipi {
    uint32_t vcpu;      /* IN */
    evtchn_port_t port; /* OUT */
};

/* Upcalls of a port go to vcpu (default 0). For interdomain, unbound and global VIRQ ports;
 * an IPI or per-vCPU VIRQ port stays on the vCPU it was bound for (-EINVAL). */
struct evtchn_bind_vcpu {
    evtchn_port_t port; /* IN */
    uint32_t vcpu;      /* IN */
};

struct evtchn_close {
    evtchn_port_t port;
};

struct evtchn_send {
    evtchn_port_t port;
};

#define EVTCHNSTAT_closed 0
#define EVTCHNSTAT_unbound 1
#define EVTCHNSTAT_interdomain 2
#define EVTCHNSTAT_pirq 3
#define EVTCHNSTAT_virq 4
#define EVTCHNSTAT_ipi 5

struct evtchn_status {
    domid_t dom;        /* IN */
    uint16_t pad;
    evtchn_port_t port; /* IN */
    uint32_t status;    /* OUT: EVTCHNSTAT_* */
    uint32_t vcpu;      /* OUT */
    union {
        struct {
            domid_t dom;
        } unbound;
        struct {
            domid_t dom;
            uint16_t pad;
            evtchn_port_t port;
        } interdomain;
        uint32_t virq;
    } u;
};

struct evtchn_unmask {
    evtchn_port_t port;
};

struct evtchn_reset {
    domid_t dom;
};

#endif
