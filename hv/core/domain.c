// SPDX-License-Identifier: MIT
// Domain life cycle: build from an ELF image module, tear down, and account for how each ended.
#include <moat/boot.h>
#include <moat/console.h>
#include <moat/device.h>
#include <moat/domain.h>
#include <moat/elf.h>
#include <moat/hvlock.h>
#include <moat/lib.h>
#include <moat/measure.h>
#include <moat/nospec.h>
#include <moat/paging.h>
#include <moat/sched.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <moat/console_io.h>
#include <moat/x86.h>
#include <moat/xsave.h>
#include <moat/xsm.h>

static struct domain domains[MOAT_MAX_DOMAINS];
static unsigned live_count;
static uint32_t incarnations;
static unsigned ended_as_expected, ended_unexpectedly;
static enum xtf_result worst_result;

struct domain *domain_table(unsigned index) { return index < MOAT_MAX_DOMAINS ? &domains[index] : NULL; }
unsigned domain_live_count(void) { return live_count; }

struct domain *domain_by_id(domid_t id)
{
    if (id >= MOAT_MAX_DOMAINS)
        return NULL;
    struct domain *d = &domains[array_index_nospec(id, MOAT_MAX_DOMAINS)];
    return d->state == DOM_FREE || d->state == DOM_DYING ? NULL : d;
}

static struct elf_image module_image(uint32_t index)
{
    const struct boot_module *m = &boot_info.modules[array_index_nospec(index, boot_info.module_count)];
    return (struct elf_image){phys_to_virt(m->start), m->end - m->start};
}

/* One populated RAM page at PFN pfn: RW, never executable until the ELF loader says so. */
static bool populate(struct domain *d, uint64_t pfn)
{
    mfn_t m = frame_alloc(FRAME_GUEST, d->domid);
    if (m == INVALID_MFN)
        return false;
    d->frames_held++;
    if (gpt_map(d, GUEST_RAM_VA + pfn * PAGE_SIZE, m, PTE_W | PTE_NX))
        return true;
    frame_free(m);
    d->frames_held--;
    return false;
}

static mfn_t info_page(struct domain *d, vaddr_t va, uint64_t flags)
{
    mfn_t m = frame_alloc(FRAME_GUEST, d->domid);
    if (m == INVALID_MFN)
        return INVALID_MFN;
    d->frames_held++;
    if (!gpt_map(d, va, m, flags | PTE_NX)) {
        frame_free(m);
        d->frames_held--;
        return INVALID_MFN;
    }
    return m;
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
        /* The module's name is the first word of its multiboot string, without directories. */
        const char *s = boot_info.modules[i].cmdline, *base = s;
        for (const char *c = s; *c && *c != ' '; c++)
            if (*c == '/')
                base = c + 1;
        size_t n = 0;
        while (base[n] && base[n] != ' ' && n < sizeof(si->image_names[i]) - 1)
            n++;
        memcpy(si->image_names[i], base, n);
    }
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
    struct domain *d = NULL;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++)
        if (domains[i].state == DOM_FREE) {
            d = &domains[i];
            break;
        }
    if (!d) {
        *err = -XEN_ENOSPC;
        return NULL;
    }
    domid_t id = (domid_t)(d - domains);
    memset(d, 0, sizeof(*d));
    d->domid = id;
    d->pml4 = INVALID_MFN;
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
        d->state = DOM_FREE;
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
        d->state = DOM_FREE;
        return NULL;
    }

    gnttab_init(d, p->max_grant_frames);
    *err = -XEN_ENOMEM;
    if (!gpt_create(d) || !xsave_vcpu_init(d))
        goto fail;
    for (uint64_t pfn = 0; pfn < d->nr_pages; pfn++)
        if (GUEST_RAM_VA + pfn * PAGE_SIZE != guard && !populate(d, pfn))
            goto fail;
    d->start_info_mfn = info_page(d, GUEST_START_INFO_VA, 0);
    d->shared_info_mfn = info_page(d, GUEST_SHARED_INFO_VA, PTE_W);
    if (d->start_info_mfn == INVALID_MFN || d->shared_info_mfn == INVALID_MFN || !elf_load(&img, d))
        goto fail;
    /* Devices (label permission, presence, exclusive), then the measurement: before it can run. */
    if ((*err = device_assign(d, p->devices, p->creator)) != 0)
        goto fail;
    if ((*err = measure_domain(d, p->creator, p->cmdline, img.data, img.size)) != 0)
        goto fail;
    fill_start_info(d, p, stack_top, image_end);
    evtchn_init(d, p->max_evtchn);
    time_publish(domain_shared_info(d));
    domain_shared_info(d)->vcpu_info[0].evtchn_upcall_mask = 1; /* events off until the guest is ready */

    struct cpu_regs *r = &d->vcpu.regs;
    r->rip = entry;
    r->rsp = stack_top;
    r->rdi = GUEST_START_INFO_VA;
    r->cs = SEL_UCODE | 3;
    r->ss = SEL_UDATA | 3;
    r->rflags = RFLAGS_IF | 2;
    r->vector = VEC_TIMER; /* first entry by iret: every register as set here */

    d->state = DOM_RUNNABLE;
    live_count++;
    sched_place(d, p->pinned, p->cpu);
    sched_add(d);
    xsm_domain_created(d);
    *err = 0;
    return d;

fail:
    device_release(d);
    xsave_vcpu_free(d);
    gpt_destroy(d);
    BUG_ON(d->frames_held != 0);
    d->state = DOM_FREE;
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
    printk("domain %u '%s' stopped: %s%s%s\n", d->domid, d->name, outcome_name(outcome), why ? ": " : "",
           why ? why : "");
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
    xsave_vcpu_free(d);
    gpt_destroy(d);
    BUG_ON(d->frames_held != 0);
    d->state = DOM_FREE;
    live_count--;
    evtchn_notify_dom_exc(d->ssidref);
}

void domain_crash_fault(struct domain *d, const struct cpu_regs *regs, uint64_t cr2)
{
    char sym[64];
    struct elf_image img = module_image(d->image_module);
    elf_symbolize(&img, regs->rip, sym, sizeof(sym));
    if (regs->vector != 14)
        cr2 = 0; /* only a page fault sets it; anything else there would be stale */
    device_audit_fault(d, regs, cr2);
    printk("domain %u '%s' crashed: vector=%lu #%s rip=0x%lx cr2=0x%lx err=0x%lx%s%s%s\n", d->domid, d->name,
           regs->vector, exception_mnemonic((unsigned)regs->vector), regs->rip, cr2, regs->error_code,
           sym[0] ? " [" : "", sym, sym[0] ? "]" : "");
    domain_destroy(d, OUTCOME_KILLED, "fault");
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
