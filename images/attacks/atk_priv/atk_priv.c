// SPDX-License-Identifier: MIT
// Attacks that kill the attacker when they are contained: privileged instructions, touching or
// running hypervisor memory, wild returns through the iret hypercall, an upcall onto a stack the
// hypervisor cannot write, a stale TLB entry after an unmap. Each runs in a child domain (label
// red) that the supervisor (label system) creates; the child grants the supervisor one page and
// writes its progress there (READY, TRYING, SURVIVED). The page outlives the child, so once the
// child is gone the supervisor reads how far it got: TRYING means the attack killed it (and only
// it), SURVIVED means the attack worked. Modes:
//   supervise              run every attack of the table, one child each
//   child op=<name> sup=<domid>
#include <moat/gnttab.h>
#include <moat/upcall.h>

#include "../common/attack.h"

#define STATE_READY 0x52454459u    /* "REDY" */
#define STATE_TRYING 0x54525947u   /* "TRYG" */
#define STATE_SURVIVED 0x53555256u /* "SURV" */
#define SUP_MAPPED 0x4d415044u     /* "MAPD" */
#define PROGRESS_REF GNTTAB_NR_RESERVED_ENTRIES
#define SELF_REF (GNTTAB_NR_RESERVED_ENTRIES + 1)

struct progress {
    volatile uint32_t state, sup, result;
};

static uint8_t table[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t progress_page[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t spare[GUEST_PAGE_SIZE] __attribute__((aligned(GUEST_PAGE_SIZE)));
static uint8_t iret_stack[GUEST_PAGE_SIZE] __attribute__((aligned(16)));

/* ---- the attacks (each runs in the child; returning means it survived) ---- */

static void op_cli(void) { __asm__ volatile("cli"); }
static void op_hlt(void) { __asm__ volatile("hlt"); }
static void op_out(void) { __asm__ volatile("outb %%al, $0x80" ::"a"(0)); }
static void op_in(void)
{
    uint8_t v;
    __asm__ volatile("inb $0x80, %0" : "=a"(v));
}
static void op_wrmsr(void) { __asm__ volatile("wrmsr" ::"c"(0xc0000080u), "a"(0), "d"(0)); }
static void op_rdmsr(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080u));
}
static void op_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
}
static void op_lgdt(void)
{
    static uint8_t desc[10];
    __asm__ volatile("lgdt %0" ::"m"(desc));
}
static void op_invlpg(void) { __asm__ volatile("invlpg (%0)" ::"r"(spare) : "memory"); }
static void op_int_timer(void) { __asm__ volatile("int $0xf0"); }
static void op_int_80(void) { __asm__ volatile("int $0x80"); }
static void op_swapgs(void) { __asm__ volatile("swapgs"); }
static void op_sysret(void) { __asm__ volatile("sysretq"); }
static void op_sysenter(void) { __asm__ volatile("sysenter" ::: "rcx", "r11", "memory"); }
/*
 * Compatibility mode: a far jump to the GDT's 32-bit user code slot (selector 0x1b, kept only for
 * sysret's layout). Reaching it would let `syscall` enter through MSR_CSTAR, which AMD CPUs (and
 * QEMU's TCG) honour from 32-bit code. If the far jump works, the 32-bit code jumps straight back
 * to 64-bit code and the attack returns: SURVIVED. (A far jump, not a far return: QEMU pops a far
 * return's stack as a supervisor access, which SMAP refuses, so lret would fault there anyway.)
 */
static void op_compat_mode(void)
{
    static struct {
        uint32_t offset;
        uint16_t selector;
    } __attribute__((packed)) target;
    __asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
                     "movl %%eax, %0\n\t"
                     "movw $0x1b, %1\n\t"
                     "ljmpl *%0\n\t"
                     ".code32\n"
                     "1: ljmp $0x2b, $2f\n\t"
                     ".code64\n"
                     "2:\n"
                     : "+m"(target.offset), "+m"(target.selector)::"rax", "memory");
}
static void op_read_hv_text(void) { (void)*(volatile uint64_t *)0xffffffff80100000ull; }
static void op_write_hv(void) { *(volatile uint64_t *)0xffffffff80200000ull = 0; }
static void op_read_directmap(void) { (void)*(volatile uint64_t *)0xffff800000100000ull; }
static void op_exec_hv(void) { ((void (*)(void))0xffffffff80100000ull)(); }
static void op_noncanonical(void) { (void)*(volatile uint64_t *)0x8000000000000000ull; }
static void op_write_start_info(void) { *(volatile uint64_t *)GUEST_START_INFO_VA = 0; }
static void op_exec_shared_info(void) { ((void (*)(void))GUEST_SHARED_INFO_VA)(); }
static void op_write_own_code(void) { *(volatile uint8_t *)(uintptr_t)op_cli = 0xc3; }
static void op_exec_data(void)
{
    spare[0] = 0xc3; /* ret */
    ((void (*)(void))(uintptr_t)spare)();
}

/* Resumes at rip on iret_stack with rflags as given: the hypervisor masks what ring 3 may not set. */
static void iret_to(uint64_t rip, uint64_t rflags)
{
    struct upcall_frame f;
    memset(&f, 0, sizeof(f));
    f.rip = rip;
    f.rsp = ((uint64_t)(uintptr_t)(iret_stack + sizeof(iret_stack))) & ~15ull;
    f.rflags = rflags;
    HYPERVISOR_iret(&f);
}

static void survived_then_exit(void);
static void iret_cli(void)
{
    __asm__ volatile("cli");
    survived_then_exit();
}
static void op_iret_iopl(void) { iret_to((uint64_t)(uintptr_t)iret_cli, 0x3202); /* IOPL 3: cli would pass */ }
/* The top page of the canonical user half: sysret there would fault in ring 0 on Intel CPUs. */
static void op_iret_top_of_user(void) { iret_to(0x00007ffffffff000ull, 0x202); }

static void on_event(evtchn_port_t port, void *data) { (void)port, (void)data; }

static struct progress *progress;

static void upcall_onto(uint64_t rsp)
{
    evtchn_init();
    long port = timer_bind();
    if (port > 0)
        evtchn_set_handler((evtchn_port_t)port, on_event, NULL);
    /* Take the upcall with a stack pointer the hypervisor may not (or cannot) write below. The
     * timer's event comes with upcalls masked and the switch to that stack unmasks them
     * (upcall_take_at): a timer armed ahead and awaited on the bad stack could fire on a loaded
     * host before the switch, its upcall then taken on the good stack, and the child spun on. */
    if (!upcall_take_at(rsp)) {
        /* No event came: not an attack, so not "contained" either (the supervisor says so). */
        __atomic_store_n(&progress->state, STATE_READY, __ATOMIC_RELEASE);
        exit(1);
    }
}
static void op_upcall_stack_hv(void) { upcall_onto(0xffff800000100000ull); }
static void op_upcall_stack_unmapped(void) { upcall_onto(0x20000ull); }
static void op_upcall_stack_low(void) { upcall_onto(0x80ull); }

/* XSA-217 class: a stale TLB entry after an unmap. Map a page of our own grant, read it (the TLB
 * holds it now), unmap, read again: only a fault is right. */
static void op_tlb_after_unmap(void)
{
    gnttab_grant_ref(SELF_REF, start_info->domid, gnttab_pfn_of(spare), true);
    grant_handle_t h;
    if (gnttab_map(DOMID_SELF, SELF_REF, GUEST_GRANT_VA, true, &h) != GNTST_okay)
        return; /* reported as set-up failure below: the child survives */
    (void)*(volatile uint64_t *)GUEST_GRANT_VA;
    gnttab_unmap(h, GUEST_GRANT_VA);
    (void)*(volatile uint64_t *)GUEST_GRANT_VA;
}

static const struct {
    const char *name;
    void (*fn)(void);
} ops[] = {
    {"priv-cli", op_cli},
    {"priv-hlt", op_hlt},
    {"priv-out", op_out},
    {"priv-in", op_in},
    {"priv-wrmsr", op_wrmsr},
    {"priv-rdmsr", op_rdmsr},
    {"priv-read-cr3", op_cr3},
    {"priv-lgdt", op_lgdt},
    {"priv-invlpg", op_invlpg},
    {"priv-int-timer-vector", op_int_timer},
    {"priv-int-0x80", op_int_80},
    {"priv-swapgs", op_swapgs},
    {"priv-sysret", op_sysret},
    {"priv-sysenter", op_sysenter},
    {"priv-compat-mode", op_compat_mode},
    {"mem-read-hv-text", op_read_hv_text},
    {"mem-write-hv", op_write_hv},
    {"mem-read-directmap", op_read_directmap},
    {"mem-exec-hv", op_exec_hv},
    {"mem-noncanonical", op_noncanonical},
    {"mem-write-start-info", op_write_start_info},
    {"mem-exec-shared-info", op_exec_shared_info},
    {"mem-write-own-code", op_write_own_code},
    {"mem-exec-data", op_exec_data},
    {"iret-iopl", op_iret_iopl},
    {"iret-top-of-user-half", op_iret_top_of_user},
    {"upcall-stack-in-hv", op_upcall_stack_hv},
    {"upcall-stack-unmapped", op_upcall_stack_unmapped},
    {"upcall-stack-too-low", op_upcall_stack_low},
    {"gnt-tlb-after-unmap", op_tlb_after_unmap},
};

/* ---- the child ---- */

static struct progress *progress = (struct progress *)progress_page;

static void survived_then_exit(void)
{
    progress->state = STATE_SURVIVED;
    exit(0);
}

static void child(void)
{
    char op[40] = "";
    cmdline_get("op", op, sizeof(op));
    domid_t sup = (domid_t)cmdline_ulong("sup", DOMID_INVALID);
    if (gnttab_setup(table, 1, 1) != GNTST_okay)
        exit(1);
    gnttab_claim_ref(PROGRESS_REF);
    gnttab_claim_ref(SELF_REF);
    progress->state = STATE_READY;
    gnttab_grant_ref(PROGRESS_REF, sup, gnttab_pfn_of(progress_page), false);
    uint64_t give_up = now_ns() + ATTACK_WAIT_NS;
    while (__atomic_load_n(&progress->sup, __ATOMIC_ACQUIRE) != SUP_MAPPED && now_ns() < give_up)
        sched_yield();
    for (unsigned i = 0; i < ARRAY_SIZE(ops); i++)
        if (!strcmp(op, ops[i].name)) {
            __atomic_store_n(&progress->state, STATE_TRYING, __ATOMIC_RELEASE);
            ops[i].fn();
            survived_then_exit();
        }
    exit(1);
}

/* ---- the supervisor ---- */

static void supervise(void)
{
    int img = find_image("atk_priv");
    for (unsigned i = 0; i < ARRAY_SIZE(ops); i++) {
        char cmdline[80];
        snprintf(cmdline, sizeof(cmdline), "mode=child op=%s sup=%u", ops[i].name, start_info->domid);
        struct domctl_create_args a = {.image = img < 0 ? 0u : (uint32_t)img, .memory_kib = 256,
                                       .ssidref = start_info->ssidref, .name = "victim-child", .cmdline = cmdline};
        a.ssidref = (uint32_t)cmdline_ulong("child_ssidref", a.ssidref);
        domid_t c;
        long rc = domctl_create(&a, &c);
        if (rc != 0) {
            verdict(ops[i].name, false, "set-up: creating the child: %ld", rc);
            continue;
        }
        /* Map the child's progress page as soon as it offers it. */
        uint64_t va = GUEST_GRANT_VA + (uint64_t)i * GUEST_PAGE_SIZE, give_up = now_ns() + ATTACK_WAIT_NS;
        grant_handle_t h = 0;
        int16_t st = GNTST_general_error;
        while (now_ns() < give_up && (st = gnttab_map(c, PROGRESS_REF, va, false, &h)) != GNTST_okay)
            sched_yield();
        if (st != GNTST_okay) {
            domctl_destroy(c);
            verdict(ops[i].name, false, "set-up: the child's progress page: %s", gnttab_status_name(st));
            continue;
        }
        struct progress *p = (struct progress *)va;
        __atomic_store_n(&p->sup, SUP_MAPPED, __ATOMIC_RELEASE);
        bool gone = attack_wait_gone(c, now_ns() + ATTACK_WAIT_NS);
        uint32_t state = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
        if (!gone)
            domctl_destroy(c);
        gnttab_unmap(h, va);
        verdict(ops[i].name, gone && state == STATE_TRYING, "%s (state %#x)",
                !gone                       ? "the child neither died nor finished"
                : state == STATE_SURVIVED ? "the child survived the attack"
                                          : "the child never got to the attack",
                state);
    }
}

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {{"supervise", supervise}, {"child", child}};
    return attack_main(modes, ARRAY_SIZE(modes));
}
