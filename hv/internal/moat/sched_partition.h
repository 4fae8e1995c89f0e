/* SPDX-License-Identifier: MIT */
/*
 * Partitioned scheduling (`sched=partition`, docs/covert-channels.md): a fixed cyclic schedule
 * of time partitions, one per label, as in Muen. The partitions are the labels of the boot
 * manifest's domains, in the order they first appear; each gets `partition_ms=` (default 10 ms)
 * in turn, whatever its domains do. A partition's first tick is a guard: nothing runs, so that an
 * overrun of the one before (a hypercall running with interrupts off past the boundary) and the
 * switch itself never shift when the next partition's domains run. Idle time is never donated:
 * a partition whose domains all wait leaves the CPU halted until its end. A domain created later
 * runs in its label's partition, or, when its label has none, in its creator's.
 *
 * The round-robin scheduler (sched.c) calls these few hooks only when partitioned() is true:
 * within a partition the same round robin runs, on the partition's own queue.
 */
#ifndef MOAT_SCHED_PARTITION_H
#define MOAT_SCHED_PARTITION_H

#include <moat/domain.h>

extern bool partition_mode; /* set once at boot, by partition_init */

static inline bool partitioned(void) { return partition_mode; }

/* Reads `sched=` and `partition_ms=` from the command line; a bad value stops the machine. */
void partition_init(void);
/* The queue of the partition of v's domain (v->on_rq and the rq links, as the round robin's queue):
 * at its tail; _first: at its head (a capped domain's refill, which goes first in its partition). */
void partition_enqueue(struct vcpu *v);
void partition_enqueue_first(struct vcpu *v);
void partition_dequeue(struct vcpu *v);
/* d is gone: its table slot belongs to no partition any more. */
void partition_forget(const struct domain *d);
/* Per tick, before the timers: true when the running domain must give way (a boundary). */
bool partition_tick(void);
/* d's timers and polls wait: it is not in the running partition (or the guard tick runs). */
bool partition_skip(const struct domain *d);
/* d is not in the running partition (a guard tick belongs to the partition it opens): its cap's
 * bookkeeping waits for its own partition's time (sched_share.c share_tick). */
bool partition_elsewhere(const struct domain *d);
/* The vCPU to run: the current one while its partition and slice last, else the head of the
 * running partition's queue; NULL (idle) in a guard tick or when the partition has nothing. A
 * current vCPU that may not run on (sched_runnable: blocked, paused, parked by its cap) is
 * neither kept nor queued again. */
struct vcpu *partition_pick(void);

#endif
