// SPDX-License-Identifier: MIT
// Domain life cycle: build from an ELF image module, tear down, and account for how each ended.
#include <moat/arch.h>
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/device.h>
#include <moat/domain.h>
#include <moat/elf.h>
#include <moat/hvlock.h>
#include <moat/lib.h>
#include <moat/measure.h>
#include <moat/mitigate.h>
#include <moat/nospec.h>
#include <moat/sched.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <moat/console_io.h>
#include <moat/xsm.h>

struct domain domain_slots[MOAT_MAX_DOMAINS]; /* moat/domain.h: domain_slot, domain_in_slot */
static unsigned live_count;
/* One bit per slot of a live (DOM_RUNNABLE) domain: policy sweeps and revocation visit the
 * domains there are instead of testing all MOAT_MAX_DOMAINS slots (and by slot, so a domain
 * whose id is not its slot, under mitigate=domid, is visited too). */
static uint64_t live_slots;
_Static_assert(MOAT_MAX_DOMAINS <= 64, "live_slots has one bit per domain slot");
static uint32_t incarnations;
static unsigned ended_as_expected, ended_unexpectedly;
static enum xtf_result worst_result;

struct domain *domain_table(unsigned index) { return index < MOAT_MAX_DOMAINS ? &domain_slots[index] : NULL; }
unsigned domain_live_count(void) { return live_count; }
uint64_t domain_live_slots(void) { return live_slots; }

struct domain *domain_next_live(uint64_t *slots)
{
    *slots &= live_slots; /* one destroyed since the walk began is skipped */
    if (!*slots)
        return NULL;
    unsigned slot = (unsigned)__builtin_ctzll(*slots);
    *slots &= *slots - 1;
    return &domain_slots[slot];
}

/*
 * An id is its slot's index, except for domains created under mitigate=domid, whose ids (64 and
 * up) this map takes to their slot (slot + 1; 0: no such id). The slot must still hold that id.
 */
static uint8_t id_slot[DOMID_FIRST_RESERVED];

struct domain *domain_by_id_any(domid_t id)
{
    unsigned slot;
    if (id < MOAT_MAX_DOMAINS)
        slot = id;
    else if (id < DOMID_FIRST_RESERVED && id_slot[array_index_nospec(id, DOMID_FIRST_RESERVED)])
        slot = id_slot[array_index_nospec(id, DOMID_FIRST_RESERVED)] - 1u;
    else
        return NULL;
    struct domain *d = &domain_slots[array_index_nospec(slot, MOAT_MAX_DOMAINS)];
    return d->state == DOM_FREE || d->domid != id ? NULL : d;
}

/* moat/domain.h's domain_by_id for a keyed id (MOAT_MAX_DOMAINS or more), through the id map. */
struct domain *domain_by_id_keyed(domid_t id)
{
    struct domain *d = domain_by_id_any(id);
    return d && d->state == DOM_RUNNABLE ? d : NULL;
}

/* mitigate=domid: the id of a domain `creator` creates, one that no domain has now. */
static domid_t child_id(struct domain *creator)
{
    for (;;) {
        domid_t id = mitigate_child_id(creator, creator->ids_drawn++);
        if (!id_slot[id])
            return id;
    }
}

/* The slot goes back to the table (and a drawn id with it). */
static void free_slot(struct domain *d)
{
    if (d->domid >= MOAT_MAX_DOMAINS && d->domid < DOMID_FIRST_RESERVED)
        id_slot[d->domid] = 0;
    d->state = DOM_FREE;
}

static struct elf_image module_image(uint32_t index)
{
    const struct boot_module *m = &boot_info.modules[array_index_nospec(index, boot_info.module_count)];
    return (struct elf_image){phys_to_virt(m->start), m->end - m->start};
}

/* RAM pages [first, first + n): RW, never executable until the ELF loader says so. */
static bool populate(struct domain *d, uint64_t first, uint64_t n)
{
    return gpt_populate(d, GUEST_RAM_VA + first * PAGE_SIZE, n, MAP_WRITABLE | MAP_NOEXEC);
}

static mfn_t info_page(struct domain *d, vaddr_t va, uint64_t flags)
{
    mfn_t m = frame_alloc_for(FRAME_GUEST, d);
    if (m == INVALID_MFN)
        return INVALID_MFN;
    d->frames_held++;
    if (!gpt_map(d, va, m, flags | MAP_NOEXEC)) {
        frame_free(m);
        d->frames_held--;
        return INVALID_MFN;
    }
    return m;
}

/* The name of module i as start_info lists it: the first word of its multiboot string, without
 * directories. Worked out once (the modules never change after the boot) instead of at every
 * creation: a path is some 70 characters, and every module is listed to every domain. */
static const char *image_name(unsigned i, size_t *len)
{
    static struct {
        uint16_t base, len;
        bool known;
    } names[START_MAX_IMAGES];
    const char *s = boot_info.modules[i].cmdline;
    if (!names[i].known) {
        const char *base = s;
        for (const char *c = s; *c && *c != ' '; c++)
            if (*c == '/')
                base = c + 1;
        size_t n = 0;
        while (base[n] && base[n] != ' ' && n < sizeof(((struct start_info *)0)->image_names[i]) - 1)
            n++;
        names[i].base = (uint16_t)(base - s);
        names[i].len = (uint16_t)n;
        names[i].known = true;
    }
    *len = names[i].len;
    return s + names[i].base;
}

static void fill_start_info(struct domain *d, const struct domain_params *p, uint64_t stack_top, uint64_t heap)
{
    struct start_info *si = mfn_to_virt(d->start_info_mfn);
    memcpy(si->magic, MOAT_START_MAGIC, sizeof(MOAT_START_MAGIC));
    si->nr_pages = d->nr_pages;
    si->shared_info_va = GUEST_SHARED_INFO_VA;
    si->ram_va = GUEST_RAM_VA;
    si->stack_top = stack_top;
    si->heap_start = heap;
    si->flags = (p->flags & MDOM_PRIVILEGED) ? SIF_PRIVILEGED : 0;
    si->ssidref = d->ssidref;
    si->domid = d->domid;
    strlcpy(si->name, d->name, sizeof(si->name));
    strlcpy(si->cmd_line, p->cmdline ? p->cmdline : "", sizeof(si->cmd_line));
    si->nr_images = (uint16_t)MIN(boot_info.module_count, START_MAX_IMAGES);
    for (unsigned i = 0; i < si->nr_images; i++) {
        size_t n;
        const char *name = image_name(i, &n);
        memcpy(si->image_names[i], name, n);
    }
}

/*
 * Clears a free slot for a domain that will have `ports` event-channel ports: all of it but the
 * port table's entries past `ports`, which no lookup reaches (every port a guest names is
 * checked against the table's max_ports and masked to it; evtchn_init sets max_ports once, and
 * domain_create checks it is no more than `ports`). A 1,024-port domain's clear is 15 KB, not 42.
 */
_Static_assert(offsetof(struct evtchn_table, notify_vcpu) > offsetof(struct evtchn_table, ports), "clear_domain");

static void clear_domain(struct domain *d, uint32_t ports)
{
    struct evtchn_table *t = &d->evtchn;
    char *start = (char *)d, *end = (char *)(d + 1);
    char *notify = (char *)t->notify_vcpu, *after = (char *)(t->notify_vcpu + EVTCHN_MAX_PORTS);
    /* One entry past the bound as well: a walk that read ports[max_ports] would find it free. */
    memset(start, 0, (size_t)((char *)&t->ports[MIN(ports + 1, EVTCHN_MAX_PORTS)] - start));
    memset(notify, 0, ports * sizeof(t->notify_vcpu[0]));
    memset(after, 0, (size_t)(end - after));
}

struct domain *domain_create(const struct domain_params *p, long *err)
{
    *err = -XEN_EINVAL;
    if (p->image_module >= boot_info.module_count || p->memory_kib % 4 || p->memory_kib < 64 ||
        p->memory_kib > GUEST_RAM_MAX / 1024)
        return NULL;
    /* Every console line about the domain carries its name: it must be one the console cannot
     * misread (docs/security.md, log injection). */
    if (!p->name || !domain_name_valid(p->name, DOMCTL_NAME_MAX))
        return NULL;
    unsigned slot = 0;
    while (slot < MOAT_MAX_DOMAINS && domain_slots[slot].state != DOM_FREE)
        slot++;
    if (slot == MOAT_MAX_DOMAINS) {
        *err = -XEN_ENOSPC;
        return NULL;
    }
    struct domain *d = &domain_slots[slot];
    /* As many ports as evtchn_init will allow (checked there). */
    uint32_t ports = p->max_evtchn ? MIN(p->max_evtchn, EVTCHN_MAX_PORTS) : EVTCHN_DEFAULT_PORTS;
    clear_domain(d, ports);
    d->slot = (uint8_t)slot;
    domid_t id = p->creator && mitigated(MITIGATE_DOMID) ? child_id(p->creator) : (domid_t)slot;
    d->domid = id;
    if (id >= MOAT_MAX_DOMAINS)
        id_slot[id] = (uint8_t)(slot + 1);
    d->pml4 = INVALID_MFN;
    d->pml4_addr = INVALID_PADDR;
    d->incarnation = ++incarnations;
    d->state = DOM_DYING; /* not visible until fully built */
    d->flags = p->flags;
    d->ssidref = p->ssidref;
    d->expect = p->expect;
    d->image_module = p->image_module;
    d->nr_pages = p->memory_kib / 4;
    strlcpy(d->name, p->name, sizeof(d->name));

    int mac = xsm_domain_create(p->creator, p->ssidref, d->name);
    if (mac) {
        *err = mac;
        free_slot(d);
        return NULL;
    }
    /* mitigate=pools: the label's share of the table, as if the table were full. */
    if (!pool_slot_available(p->ssidref, d)) {
        *err = -XEN_ENOSPC;
        free_slot(d);
        return NULL;
    }

    struct elf_image img = module_image(p->image_module);
    uint64_t entry, image_end;
    /* The image may use RAM up to the guard page below the stack. */
    uint64_t stack_top = GUEST_RAM_VA + d->nr_pages * PAGE_SIZE;
    uint64_t guard = stack_top - (GUEST_STACK_PAGES + 1) * PAGE_SIZE;
    const char *why = elf_check(&img, GUEST_RAM_VA, guard, &entry, &image_end);
    if (why) {
        printk("domain %u '%s': image module %u refused: %s\n", id, d->name, p->image_module, why);
        free_slot(d);
        return NULL;
    }

    /* Quotas: a domain of its label and of its creator's, before any frame is charged to it. */
    if ((*err = quota_domain_start(d, p->creator)) != 0) {
        quota_domain_end(d);
        free_slot(d);
        return NULL;
    }
    if ((*err = share_init(d, p->weight, p->cap)) != 0) {
        quota_domain_end(d);
        free_slot(d);
        return NULL;
    }
    gnttab_init(d, p->max_grant_frames);
    d->nr_vcpus = p->vcpus ? MIN(p->vcpus, MOAT_MAX_VCPUS) : 1;
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        d->vcpus[i].domain = d;
        d->vcpus[i].hypercalls = d->meter.hypercalls;
        d->vcpus[i].vcpu_id = i;
    }
    *err = -XEN_ENOMEM;
    if (!gpt_create(d))
        goto fail;
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        if (!arch_vcpu_init(&d->vcpus[i]))
            goto fail;
    /* All RAM but the guard page (elf_check put the image below it, so it lies inside RAM). */
    uint64_t guard_pfn = (guard - GUEST_RAM_VA) / PAGE_SIZE;
    if (!populate(d, 0, guard_pfn) || !populate(d, guard_pfn + 1, d->nr_pages - guard_pfn - 1))
        goto fail;
    d->start_info_mfn = info_page(d, GUEST_START_INFO_VA, 0);
    d->shared_info_mfn = info_page(d, GUEST_SHARED_INFO_VA, MAP_WRITABLE);
    if (d->start_info_mfn == INVALID_MFN || d->shared_info_mfn == INVALID_MFN || !elf_load(&img, d))
        goto fail;
    d->shared_info = mfn_to_virt(d->shared_info_mfn); /* one load on every send, not a shift and an add */
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        d->vcpus[i].vcpu_info = &domain_shared_info(d)->vcpu_info[i];
    /* Devices (label permission, presence, exclusive), then the measurement: before it can run. */
    if ((*err = device_assign(d, p->devices, p->creator)) != 0)
        goto fail;
    if ((*err = measure_domain(d, p->creator, p->cmdline, img.data, img.size)) != 0)
        goto fail;
    fill_start_info(d, p, stack_top, image_end);
    evtchn_init(d, p->max_evtchn);
    BUG_ON(d->evtchn.max_ports > ports); /* a port table entry clear_domain left uncleared */
    time_publish(domain_shared_info(d));
    for (unsigned i = 0; i < d->nr_vcpus; i++) /* events off until the guest is ready */
        domain_shared_info(d)->vcpu_info[i].evtchn_upcall_mask = 1;

    arch_vcpu_start(&d->vcpus[0].regs, entry, stack_top, GUEST_START_INFO_VA);
    d->vcpus[0].initialised = true; /* the others start down (VCPUOP_initialise, VCPUOP_up) */

    d->state = DOM_RUNNABLE;
    live_count++;
    live_slots |= 1ull << domain_slot(d);
    sched_vcpu_up(&d->vcpus[0], p->pinned, p->cpu);
    xsm_domain_created(d);
    *err = 0;
    return d;

fail:
    share_exit(d);
    device_release(d);
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        arch_vcpu_destroy(&d->vcpus[i]);
    gpt_destroy(d);
    BUG_ON(d->frames_held != 0);
    quota_domain_end(d);
    free_slot(d);
    return NULL;
}

static const char *outcome_name(enum dom_outcome o)
{
    switch (o) {
    case OUTCOME_POWEROFF: return "poweroff";
    case OUTCOME_REBOOT: return "reboot";
    case OUTCOME_CRASH: return "crash";
    case OUTCOME_KILLED: return "killed";
    default: return "none";
    }
}

static bool outcome_expected(const struct domain *d, enum dom_outcome o)
{
    switch (d->expect) {
    case EXPECT_ANY: return true;
    case EXPECT_CRASH: return o == OUTCOME_CRASH || o == OUTCOME_KILLED;
    default: return o == OUTCOME_POWEROFF || o == OUTCOME_REBOOT;
    }
}

void domain_destroy(struct domain *d, enum dom_outcome outcome, const char *why)
{
    BUG_ON(d->state == DOM_FREE || d->state == DOM_DYING);
    console_flush_domain(d);
    d->state = DOM_DYING;
    live_slots &= ~(1ull << domain_slot(d));
    printk("domain %u '%s' stopped: %s%s%s\n", d->domid, d->name, outcome_name(outcome), why ? ": " : "",
           why ? why : "");
    meter_final(d);
    if (outcome_expected(d, outcome)) {
        ended_as_expected++;
    } else {
        ended_unexpectedly++;
        worst_result = XTF_FAILURE;
    }
    if (d->xtf > worst_result)
        worst_result = d->xtf;

    sched_remove(d);
    evtchn_destroy(d);
    gnttab_destroy(d);
    xsm_domain_destroyed(d);
    device_release(d);
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        arch_vcpu_destroy(&d->vcpus[i]);
    gpt_destroy(d);
    BUG_ON(d->frames_held != 0);
    quota_domain_end(d); /* every frame, port, grant frame and mapping it was charged came back */
    free_slot(d);
    live_count--;
    evtchn_notify_dom_exc(d->ssidref);
}

void domain_symbolize(const struct domain *d, uint64_t addr, char *buf, size_t size)
{
    struct elf_image img = module_image(d->image_module);
    elf_symbolize(&img, addr, buf, size);
}

void domain_not_built(const char *name, uint32_t expect, long err)
{
    char safe[2 * DOMCTL_NAME_MAX];
    printk("domain '%s' not created: error %ld\n", str_escape(safe, sizeof(safe), name), err);
    if (expect == EXPECT_ANY) {
        ended_as_expected++;
    } else {
        ended_unexpectedly++;
        worst_result = XTF_FAILURE;
    }
}

noreturn void domains_all_stopped(void)
{
    struct frame_stats s;
    frame_get_stats(&s);
    printk("frames at stop: total=%lu free=%lu used=%lu reserved=%lu\n", s.total, s.free, s.used, s.reserved);
    frame_failalloc_report();
    if (!frame_audit()) /* the figures above are the counters: the table itself must agree */
        worst_result = XTF_FAILURE;
    printk("faults at stop: %lu on guest addresses, each answered -EFAULT; none in the hypervisor\n", fault_fixups);
    hv_lock_report();
    printk("moat: all domains stopped: %u as expected, %u not\n", ended_as_expected, ended_unexpectedly);
    static const char *const names[] = {"", "SUCCESS", "SKIP", "ERROR", "FAILURE"};
    if (worst_result != XTF_NONE)
        printk("Test result: %s\n", names[worst_result]);
    machine_stop(worst_result <= XTF_SKIP ? STOP_SUCCESS : STOP_FAILURE);
}
