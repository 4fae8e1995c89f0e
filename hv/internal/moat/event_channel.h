/* SPDX-License-Identifier: MIT */
/* Event channels inside the hypervisor (core/event_channel.c). */
#ifndef MOAT_EVENT_CHANNEL_H
#define MOAT_EVENT_CHANNEL_H

#include <moat/types.h>
#include <public/event_channel.h>
#include <public/hv.h>
#include <public/vcpu.h>

struct domain;
struct vcpu;

enum evtchn_state { ECS_FREE = 0, ECS_RESERVED, ECS_UNBOUND, ECS_INTERDOMAIN, ECS_VIRQ, ECS_IPI };

struct evtchn {
    uint8_t state;       /* enum evtchn_state */
    union {
        uint8_t virq;      /* VIRQ */
        /* INTERDOMAIN: the peer's slot in the domain table (domain_in_slot), so a send finds it
         * without a look-up by id. Never stale: both ends of a channel are closed (or revoked)
         * together, and a dying domain closes all its ports before its slot is freed. */
        uint8_t peer_slot;
    };
    domid_t remote_dom;  /* UNBOUND: who may bind; INTERDOMAIN: the peer */
    uint32_t remote_port;
};
_Static_assert(MOAT_MAX_DOMAINS <= 256, "peer_slot holds a domain slot in 8 bits");

struct evtchn_table {
    uint32_t max_ports;
    /* How many of the ports are ECS_INTERDOMAIN: a policy sweep skips a table without any
     * instead of testing every port (most domains have a few channels, or none). */
    uint32_t interdomain;
    /* Per vCPU (a per-vCPU VIRQ: VIRQ_TIMER); a global VIRQ binds in row 0 only. */
    uint32_t virq_to_port[MOAT_MAX_VCPUS][NR_VIRQS];
    struct evtchn ports[EVTCHN_MAX_PORTS];
    /* Whose vcpu_info a port's upcall raises (bind_ipi, bind_virq, bind_vcpu; default 0): always
     * a vCPU the domain has. Apart from struct evtchn, which stays 8 bytes. */
    uint8_t notify_vcpu[EVTCHN_MAX_PORTS];
};

void evtchn_init(struct domain *d, uint32_t max_ports);
/* Closes every port; peers' ends become unbound to no one and get an event. */
void evtchn_destroy(struct domain *d);
/* A global VIRQ (or vCPU 0's); and a per-vCPU VIRQ of v (VIRQ_TIMER). */
void evtchn_send_virq(struct domain *d, unsigned virq);
void evtchn_send_vcpu_virq(struct vcpu *v, unsigned virq);
/* A domain of this label died: raises VIRQ_DOM_EXC in every domain that bound it and may read
 * the state of that label (the MAC policy's read_state). */
void evtchn_notify_dom_exc(uint32_t dead_ssidref);
/* The port VIRQ virq is bound to in d (on vCPU 0), or 0. */
evtchn_port_t evtchn_virq_port(struct domain *d, unsigned virq);
/* Takes a VIRQ binding away (MAC revocation): the port becomes unbound to no one, and pending. */
void evtchn_revoke_virq(struct domain *d, unsigned virq);
bool evtchn_port_valid(struct domain *d, evtchn_port_t port);
bool evtchn_is_pending(struct domain *d, evtchn_port_t port);
/* SCHEDOP_send_poll (public/sched.h) for v, the caller: 0 (returned at once, or v sleeps) or
 * -errno. */
long evtchn_send_poll(struct vcpu *v, uint64_t send, uint64_t poll);
/* Closes an interdomain channel from both ends and signals both (used by MAC revocation). */
void evtchn_revoke(struct domain *d, evtchn_port_t port);
/* Calls fn for every interdomain port of d (each channel is seen from both of its ends). */
void evtchn_for_each_interdomain(struct domain *d,
                                 void (*fn)(struct domain *d, evtchn_port_t port, struct domain *rd, void *ctx),
                                 void *ctx);
long do_event_channel_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5);

#endif
