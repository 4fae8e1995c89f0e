/* SPDX-License-Identifier: MIT */
/*
 * A domain: one paravirtualized guest with 1 to MOAT_MAX_VCPUS vCPUs (docs/hypervisor.md, "vCPUs"),
 * its own page tables (built and owned by the
 * hypervisor), a start-info and a shared-info page. Domain ids index a fixed table; the lowest
 * free id is reused, and a new domain in a reused slot starts from zero (it inherits nothing).
 * With mitigate=domid a domain created by domctl has an id of 64 or more instead, drawn by
 * mitigate_child_id (moat/mitigate.h); it still lives in the lowest free slot.
 */
#ifndef MOAT_DOMAIN_H
#define MOAT_DOMAIN_H

#include <moat/cpu.h>
#include <moat/event_channel.h>
#include <moat/frame.h>
#include <moat/grant_table.h>
#include <moat/guest_pt.h>
#include <moat/meter.h>
#include <moat/nospec.h>
#include <moat/quota.h>
#include <moat/sched_share.h>
#include <moat/types.h>
#include <moat/xsm.h>
#include <public/domctl.h>
#include <public/hv.h>
#include <public/manifest.h>
#include <public/vcpu.h>

enum dom_state {
    DOM_FREE = 0,     /* the slot is unused */
    DOM_RUNNABLE,     /* live: its vCPUs run, block or are down (enum vcpu_state) */
    DOM_DYING,        /* being torn down */
};

/* Two bits: up, and (if up) runnable. Blocking clears the runnable bit alone (sched_block_current),
 * so a vCPU that is down, which has neither, stays down. */
enum vcpu_state {
    VCPU_DOWN = 0,     /* not started (VCPUOP_initialise/up), or VCPUOP_down */
    VCPU_BLOCKED = 2,  /* up: SCHEDOP_block or SCHEDOP_poll: waits for an event or its timeout */
    VCPU_RUNNABLE = 3, /* up and runnable: VCPU_BLOCKED | VCPU_RUNNABLE_BIT */
};
#define VCPU_RUNNABLE_BIT 1u

enum dom_outcome {
    OUTCOME_NONE = 0,
    OUTCOME_POWEROFF,
    OUTCOME_REBOOT,
    OUTCOME_CRASH,    /* the guest shut down with reason crash */
    OUTCOME_KILLED,   /* the hypervisor killed it: a fault, or destroyed by domctl */
};

/* XTF results as the guest reported them (ordered: a worse result is greater). */
enum xtf_result { XTF_NONE = 0, XTF_SUCCESS, XTF_SKIP, XTF_ERROR, XTF_FAILURE };

#define CONSOLE_LINE_MAX 200

struct domain;

/* What the scheduler runs: one of a domain's vCPUs. */
struct vcpu {
    struct cpu_regs regs aligned(16); /* saved guest context (entry code writes it directly) */
    struct domain *domain;
    /* Its domain's meter.hypercalls, set at creation: the syscall fast path counts each call
     * there through the frame (regs is first, this at a fixed offset: VCPU_HYPERCALLS), so that a
     * switch has no per-CPU copy of it to set. */
    uint32_t *hypercalls;
    /* Its vcpu_info in the domain's shared-info page (set when that page is made, which outlives
     * every run of the vCPU): the switch and the syscall fast path (VCPU_VCPU_INFO, from the
     * frame) read it without walking domain and index. */
    struct vcpu_info *vcpu_info;
    unsigned vcpu_id;                 /* its index in domain->vcpus, and its vcpu_info's */
    enum vcpu_state state;
    bool initialised;                 /* VCPUOP_initialise done (vCPU 0: at creation) */
    bool on_rq;                       /* queued to run (sched.c) */
    bool pinned;                      /* runs on `cpu` only */
    unsigned cpu;                     /* its CPU: whose run queue it joins; only there is it current */
    struct vcpu *rq_next, *rq_prev;
    uint64_t window_cpu_cycles;       /* CPU time in the fairness window below, in cycles (sched.c) */
    uint64_t window_start_ns;         /* the window it counts: stale (not its CPU's) means none yet */
    struct vcpu *timer_next, *timer_prev; /* its CPU's list of armed timers and poll timeouts */
    bool on_timers;
    uint64_t slice_left_ticks;
    uint64_t callback_rip;            /* event upcall entry, 0 = none */
    uint64_t timer_deadline_ns;       /* set_timer_op; 0 = none */
    uint64_t poll_deadline_ns;        /* SCHEDOP_poll timeout; 0 = none */
    bool polling;
    void *xsave;                      /* its FPU/SSE/AVX state while not in a CPU (xsave.c) */
    unsigned fpu_cpu;                 /* the CPU that last loaded it (it may still be there) */
    mfn_t xsave_mfn;
};

struct domain {
    struct vcpu vcpus[MOAT_MAX_VCPUS];
    unsigned nr_vcpus;                /* 1..MOAT_MAX_VCPUS: vcpus[0..nr_vcpus-1] exist */
    domid_t domid;
    enum dom_state state;
    bool paused;
    /* Its vCPUs need nothing at a switch but what the plain switch does (sched.c's
     * exit_to_guest_resched): it holds no device, has the default weight, and is neither paused
     * nor parked. Kept by sched_plain_update wherever one of those changes; false (the general
     * path) until its first update. */
    bool switch_plain;
    uint8_t poll_mask;                /* bit i: vcpus[i] polls (SCHEDOP_poll, _send_poll; an event wakes it) */
    uint8_t slot;                     /* its index in domain_slots (domain_slot: a load, not a division) */
    uint32_t flags;                   /* MDOM_* */
    uint32_t ssidref;
    uint32_t expect;                  /* EXPECT_* */
    uint32_t image_module;
    uint32_t devices;                 /* DEVICE_* bits it holds (public/device.h) */
    char name[DOMCTL_NAME_MAX];

    mfn_t pml4;                       /* root of its page tables */
    paddr_t pml4_addr;                /* pml4's address, as the switch loads it (INVALID_PADDR with none) */
    uint64_t nr_pages;                /* pseudo-physical size (PFNs 0..nr_pages-1) */
    uint64_t frames_held;             /* machine frames it owns: RAM, page tables, info pages */
    mfn_t start_info_mfn, shared_info_mfn;
    struct shared_info *shared_info; /* that page through the direct map: set with it, for the event paths */

    uint64_t cpu_time_cycles;         /* of all its vCPUs, in cycles (sched_cycles_to_ns) */
    struct share share;               /* weight and cap (sched_share.c) */

    struct evtchn_table evtchn;
    struct grant_table gnttab;
    uint32_t incarnation;             /* counts creations: tells a reused domid from its predecessor */
    uint32_t ids_drawn;               /* mitigate=domid: ids drawn for its children so far */
    struct xsm_cache xsm_cache;
    struct xsm_audit xsm_audit;       /* rate limit of its MAC denial lines */
    struct quota_account quota;       /* what it holds against its labels' quotas (moat/quota.h) */
    struct meter meter;               /* what it used (moat/meter.h) */

    char console_line[CONSOLE_LINE_MAX + 1];
    unsigned console_len;
    enum xtf_result xtf;
};

/* The vCPU a guest names, bounds-checked and safe under speculation, or NULL if d has none such. */
struct vcpu *domain_vcpu(struct domain *d, uint64_t vcpu_id);

/* The shared-info page as the hypervisor sees it (through the direct map). */
static inline struct shared_info *domain_shared_info(struct domain *d)
{
    return d->shared_info;
}

/* v's own vcpu_info in its domain's shared info: its upcall pending, mask and pending_sel. */
static inline struct vcpu_info *vcpu_info_of(const struct vcpu *v)
{
    return v->vcpu_info;
}

struct domain_params {
    const char *name;
    uint32_t image_module;
    uint64_t memory_kib;
    uint32_t ssidref;
    uint32_t flags;
    uint32_t expect;
    const char *cmdline;
    uint32_t max_evtchn;
    uint32_t max_grant_frames;
    uint32_t devices;        /* DEVICE_* bits to assign (checked against the label) */
    bool pinned;             /* run on `cpu` only; else the scheduler places and moves it */
    uint32_t weight;         /* proportional share (moat/sched_share.h); 0: the default */
    uint32_t cap;            /* percent of one CPU, 0: none */
    unsigned cpu;
    unsigned vcpus;          /* 0 or 1: one; at most MOAT_MAX_VCPUS */
    struct domain *creator; /* NULL at boot (the manifest) */
};

/* Builds a domain from an ELF image module; returns it runnable, or NULL with *err = -XEN_E*. */
struct domain *domain_create(const struct domain_params *p, long *err);
/* Tears a domain down and gives every frame back; records how it ended. */
void domain_destroy(struct domain *d, enum dom_outcome outcome, const char *why);
struct domain *domain_by_id_any(domid_t id); /* a domain, live, being built or torn down, or NULL */
struct domain *domain_by_id_keyed(domid_t id); /* domain_by_id's keyed ids (domain.c) */
struct domain *domain_table(unsigned index);
/* The table itself, for the inline helpers below only: a domain's slot, the domain in a slot
 * (masked: always within the table; for slots the hypervisor recorded, never a guest's), and
 * domain_by_id's common case. */
extern struct domain domain_slots[MOAT_MAX_DOMAINS];
_Static_assert((MOAT_MAX_DOMAINS & (MOAT_MAX_DOMAINS - 1)) == 0, "slot mask");
/*
 * A live domain (one in DOM_RUNNABLE, the one state neither free nor dying), or NULL. Inline: every
 * hypercall naming a domain starts here. The common case (an id below MOAT_MAX_DOMAINS, which names
 * its own slot) is one bounds check that also masks the index, then that one state test and the
 * slot's id; the others go through the id map, out of line.
 */
static inline struct domain *domain_by_id(domid_t id)
{
    uint64_t mask;
    if (!array_index_check_nospec(id, MOAT_MAX_DOMAINS, &mask))
        return domain_by_id_keyed(id);
    struct domain *d = &domain_slots[id & mask];
    return d->state == DOM_RUNNABLE && d->domid == id ? d : NULL;
}
static inline unsigned domain_slot(const struct domain *d) { return d->slot; }
static inline struct domain *domain_in_slot(unsigned slot) { return &domain_slots[slot & (MOAT_MAX_DOMAINS - 1)]; }
unsigned domain_live_count(void);
/* The live domains' slots, one bit each, and the next of them (NULL when none is left):
 *     for (uint64_t w = domain_live_slots(); (d = domain_next_live(&w));) ...
 * A walk visits the domains live when it began that are still live; not one created meanwhile. */
uint64_t domain_live_slots(void);
struct domain *domain_next_live(uint64_t *slots);
/* The symbol of d's image at addr, as "name+0xoff", or "" (for crash records: arch/x86_64/traps.c). */
void domain_symbolize(const struct domain *d, uint64_t addr, char *buf, size_t size);
/* A manifest domain that could not be built: logged and counted against its expectation. */
void domain_not_built(const char *name, uint32_t expect, long err);
/* Called when the last domain has gone: the summary, the aggregate result, the stop. */
noreturn void domains_all_stopped(void);

#endif
