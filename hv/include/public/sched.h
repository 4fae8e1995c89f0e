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
