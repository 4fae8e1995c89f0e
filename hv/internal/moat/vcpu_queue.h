// SPDX-License-Identifier: MIT
// The insert of a vCPU into a run queue (a doubly linked list through rq_next/rq_prev, with a head
// and a tail), one copy for the CPUs' queues (sched.c) and the partitions' (sched_partition.c).
// Always inline: they are on the block/wake and switch paths, where a call would cost instructions.
#ifndef MOAT_VCPU_QUEUE_H
#define MOAT_VCPU_QUEUE_H

#include <moat/domain.h>

/* v, not queued, to the head of the queue (*head, *tail). */
static inline __attribute__((always_inline)) void vcpu_queue_link_head(struct vcpu **head, struct vcpu **tail,
                                                                       struct vcpu *v)
{
    v->on_rq = true;
    v->rq_prev = NULL;
    v->rq_next = *head;
    if (*head)
        (*head)->rq_prev = v;
    else
        *tail = v;
    *head = v;
}

/* v, not queued, to the tail of the queue (*head, *tail). */
static inline __attribute__((always_inline)) void vcpu_queue_link_tail(struct vcpu **head, struct vcpu **tail,
                                                                       struct vcpu *v)
{
    v->on_rq = true;
    v->rq_next = NULL;
    v->rq_prev = *tail;
    if (*tail)
        (*tail)->rq_next = v;
    else
        *head = v;
    *tail = v;
}

#endif
