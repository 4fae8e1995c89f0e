/* SPDX-License-Identifier: MIT */
/* sched_op(cmd, arg): yield, block, poll, shutdown. Xen's names and numbers. */
#ifndef MOAT_PUBLIC_SCHED_H
#define MOAT_PUBLIC_SCHED_H

#include "hv.h"

#define SCHEDOP_yield 0
/* Unmasks event delivery (upcall_mask = 0) and sleeps until an event is pending, atomically. */
#define SCHEDOP_block 1
#define SCHEDOP_shutdown 2 /* arg: struct sched_shutdown * */
#define SCHEDOP_poll 3     /* arg: struct sched_poll * */
/*
 * moat's own (not Xen's; a number Xen leaves unused): sched_op(SCHEDOP_send_poll, send, poll), a
 * send and a poll in one hypercall, both ports in registers. poll must be a valid port of the
 * caller (else -EINVAL, and nothing is sent); send, unless 0, is sent on exactly as by
 * EVTCHNOP_send (its result, if not 0, is returned, and the caller does not sleep). Then, as
 * SCHEDOP_poll with the one port and no timeout: returns 0 at once if poll is pending (masked or
 * not), else sleeps until an event arrives for the domain. The pending bit is left to the caller
 * to clear; upcall_mask is not touched. docs/event-channels.md.
 */
#define SCHEDOP_send_poll 64

#define SHUTDOWN_poweroff 0
#define SHUTDOWN_reboot 1
#define SHUTDOWN_crash 3

struct sched_shutdown {
    uint32_t reason;
};

typedef uint32_t evtchn_port_t;

/* Sleeps until one of ports is pending or the absolute system time `timeout` (ns; 0 = none) passes. */
struct sched_poll {
    uint64_t ports; /* guest pointer to evtchn_port_t[nr_ports] */
    uint32_t nr_ports;
    uint32_t pad;
    uint64_t timeout;
};
#define SCHED_POLL_MAX_PORTS 128

#endif
