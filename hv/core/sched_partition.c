// SPDX-License-Identifier: MIT
// Partitioned scheduling (moat/sched_partition.h, docs/covert-channels.md): a fixed cyclic
// schedule of one time partition per label, idle time never given to another partition.
//
// What one partition's domains can see of another's must not depend on what the other does, to
// the instruction under -icount: so every decision here is taken on the tick count alone, the
// tick's walk over the domain table takes the same path for a free slot and for another
// partition's domain, and the switch into a partition always starts from the same machine state
// (the hypervisor's own page tables, no vCPU's extended state in the registers), entered from
// the halt of a guard tick at the exact time of the tick after the boundary.
#include <moat/arch.h>
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/lib.h>
#include <moat/sched.h>
#include <moat/sched_partition.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <moat/vcpu_queue.h>
#include <public/xsm/acm.h>

#define PARTITION_MAX 16
#define PARTITION_MS_DEFAULT 10
#define PARTITION_MS_MAX 1000

bool partition_mode;

struct partition {
    uint32_t row;                /* the label: the primary ssidref's policy row */
    struct vcpu *head, *tail;    /* its runnable vCPUs but the running one, round robin */
};

static struct partition parts[PARTITION_MAX];
static unsigned nparts;
static uint64_t part_ticks = PARTITION_MS_DEFAULT * TICK_HZ / 1000;
static uint8_t member[MOAT_MAX_DOMAINS]; /* per domain-table slot: partition index + 1, 0 none */
static bool frozen;   /* the schedule is fixed (the first pick): no new partitions */
static unsigned active; /* the running partition's index */
static bool guard = true; /* nothing runs: before the first boundary, or a partition's first tick */

static unsigned slot_of(const struct domain *d) { return (unsigned)(d - domain_table(0)); }

void partition_init(void)
{
    char word[16];
    if (!cmdline_get("sched", word, sizeof(word)))
        return;
    if (strcmp(word, "partition") != 0) {
        if (strcmp(word, "roundrobin") == 0)
            return;
        printk("moat: sched=%s: unknown scheduler (known: roundrobin, partition)\n", word);
        machine_stop(STOP_FAILURE);
    }
    partition_mode = true;
    if (cmdline_get("partition_ms", word, sizeof(word))) {
        uint64_t ms = 0;
        /* Two ticks at least: the guard and one that runs. */
        if (!cmdline_number(word, PARTITION_MS_MAX, &ms) || ms * TICK_HZ / 1000 < 2) {
            printk("moat: partition_ms=%s: a number of milliseconds, %u to %u\n", word, 2000 / TICK_HZ,
                   PARTITION_MS_MAX);
            machine_stop(STOP_FAILURE);
        }
        part_ticks = ms * TICK_HZ / 1000;
    }
}

/* The partition of d's label; a new one while the schedule is not yet fixed; else the running
 * one (d's creator is running: a label without a partition of its own runs on its creator's
 * time). */
static unsigned partition_for(const struct domain *d)
{
    uint32_t row = ACM_SSIDREF_PRIMARY(d->ssidref);
    for (unsigned i = 0; i < nparts; i++)
        if (parts[i].row == row)
            return i;
    if (!frozen && nparts < PARTITION_MAX) {
        parts[nparts].row = row;
        return nparts++;
    }
    if (!frozen)
        printk("sched: more than %u labels: domain %u '%s' shares the last partition\n", PARTITION_MAX, d->domid,
               d->name);
    return frozen ? active : PARTITION_MAX - 1;
}

/* v's partition (the domain's table slot remembers it). */
static inline __attribute__((always_inline)) struct partition *partition_of(const struct vcpu *v)
{
    unsigned slot = slot_of(v->domain);
    if (!member[slot])
        member[slot] = (uint8_t)(partition_for(v->domain) + 1);
    return &parts[member[slot] - 1];
}

void partition_enqueue(struct vcpu *v)
{
    if (v->on_rq)
        return;
    struct partition *p = partition_of(v);
    vcpu_queue_link_tail(&p->head, &p->tail, v);
}

void partition_enqueue_first(struct vcpu *v)
{
    if (v->on_rq)
        return;
    struct partition *p = partition_of(v);
    vcpu_queue_link_head(&p->head, &p->tail, v);
}

void partition_dequeue(struct vcpu *v)
{
    if (!v->on_rq)
        return;
    struct partition *p = &parts[member[slot_of(v->domain)] - 1];
    if (v->rq_prev)
        v->rq_prev->rq_next = v->rq_next;
    else
        p->head = v->rq_next;
    if (v->rq_next)
        v->rq_next->rq_prev = v->rq_prev;
    else
        p->tail = v->rq_prev;
    v->on_rq = false;
    v->rq_next = v->rq_prev = NULL;
}

void partition_forget(const struct domain *d) { member[slot_of(d)] = 0; }

bool partition_skip(const struct domain *d) { return guard | (member[slot_of(d)] != active + 1); }

bool partition_elsewhere(const struct domain *d) { return member[slot_of(d)] != active + 1; }

bool partition_tick(void)
{
    if (!frozen || !nparts)
        return false;
    uint64_t t = timer_ticks() % part_ticks;
    if (t == 0) { /* a boundary: the next partition's guard tick */
        active = (unsigned)(timer_ticks() / part_ticks % nparts);
        guard = true;
        return true;
    }
    if (guard && t == 1) {
        guard = false;
        return true;
    }
    return false;
}

static void print_schedule(void)
{
    printk("sched: partitioned: %u partitions of %lu ms, cycle %lu ms (labels:", nparts,
           part_ticks * 1000 / TICK_HZ, nparts * part_ticks * 1000 / TICK_HZ);
    for (unsigned i = 0; i < nparts; i++)
        printk(" %u", parts[i].row);
    printk(")\n");
}

/* Leave the CPU as every partition finds it: whoever ran last leaves nothing that makes the
 * next entry take a shorter or longer path. */
static void release_cpu(void)
{
    arch_release_cpu();
}

struct vcpu *partition_pick(void)
{
    struct percpu *cpu = this_cpu();
    struct vcpu *cur = cpu->current;
    if (!frozen) {
        frozen = true;
        print_schedule();
    }
    bool runnable = cur && sched_runnable(cur); /* a parked one is neither kept nor queued again */
    if (runnable && !guard && !cpu->need_resched && member[slot_of(cur->domain)] == active + 1)
        return cur;
    cpu->need_resched = 0;
    if (runnable)
        partition_enqueue(cur); /* its slice or its partition is over, or it yielded */
    /* A current vCPU that may not run on (blocked, paused, or parked by its cap) stays off the
     * queue: its partition's time goes to the partition's other vCPUs, or idles (never to another
     * partition); a parked one comes back with its cap's refill (sched_add_first). */
    if (guard) {
        release_cpu();
        return NULL;
    }
    struct vcpu *next = parts[active].head;
    if (next)
        partition_dequeue(next);
    return next;
}
