// SPDX-License-Identifier: MIT
// The IDT and the exception path. An exception in the hypervisor is always a bug: the handler
// prints everything needed to find it (vector, error code, registers, cr2, a frame-pointer
// backtrace that `moat symbolize` turns into function names) and stops the machine with a
// failure status. Guest faults are routed elsewhere once guests exist.
#include <moat/apic.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/paging.h>
#include <moat/selftest.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <moat/x86.h>

struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t ist, type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi, reserved;
} packed;

static struct idt_gate idt[256] aligned(16);
static irq_handler_t irq_handlers[256];

extern const uint64_t exception_stubs[32], timer_stub, spurious_stub, ipi_stubs[3];

static const struct {
    const char *mnemonic, *name;
} exception_names[32] = {
    [0] = {"DE", "divide error"},          [1] = {"DB", "debug"},
    [2] = {"NMI", "non-maskable interrupt"}, [3] = {"BP", "breakpoint"},
    [4] = {"OF", "overflow"},              [5] = {"BR", "bound range exceeded"},
    [6] = {"UD", "invalid opcode"},        [7] = {"NM", "device not available"},
    [8] = {"DF", "double fault"},          [9] = {"CSO", "coprocessor segment overrun"},
    [10] = {"TS", "invalid TSS"},          [11] = {"NP", "segment not present"},
    [12] = {"SS", "stack-segment fault"},  [13] = {"GP", "general protection"},
    [14] = {"PF", "page fault"},           [15] = {"RES", "reserved"},
    [16] = {"MF", "x87 floating-point error"}, [17] = {"AC", "alignment check"},
    [18] = {"MC", "machine check"},        [19] = {"XM", "SIMD floating-point"},
    [20] = {"VE", "virtualization"},       [21] = {"CP", "control protection"},
    [22] = {"RES", "reserved"},            [23] = {"RES", "reserved"},
    [24] = {"RES", "reserved"},            [25] = {"RES", "reserved"},
    [26] = {"RES", "reserved"},            [27] = {"RES", "reserved"},
    [28] = {"HV", "hypervisor injection"}, [29] = {"VC", "VMM communication"},
    [30] = {"SX", "security"},             [31] = {"RES", "reserved"},
};

static void set_gate(uint8_t vec, uint64_t handler, uint8_t ist)
{
    idt[vec] = (struct idt_gate){
        .offset_lo = handler & 0xffff,
        .selector = SEL_KCODE,
        .ist = ist,
        .type_attr = 0x8e, /* present, DPL 0, 64-bit interrupt gate (IF cleared on entry) */
        .offset_mid = (handler >> 16) & 0xffff,
        .offset_hi = (uint32_t)(handler >> 32),
    };
}

static void spurious(struct cpu_regs *regs) { (void)regs; }

void idt_init(void)
{
    for (unsigned v = 0; v < 32; v++) {
        uint8_t ist = v == 8 ? IST_DF : v == 2 ? IST_NMI : v == 18 ? IST_MC : 0;
        set_gate((uint8_t)v, exception_stubs[v], ist);
    }
    set_gate(VEC_TIMER, timer_stub, 0);
    set_gate(VEC_IPI_WAKE, ipi_stubs[0], 0);
    set_gate(VEC_IPI_CALL, ipi_stubs[1], 0);
    set_gate(VEC_IPI_STOP, ipi_stubs[2], 0);
    set_gate(VEC_SPURIOUS, spurious_stub, 0);
    irq_handlers[VEC_SPURIOUS] = spurious;
    idt_load();

    /* The legacy PICs: move them off the exception vectors, then mask every line (we use the LAPIC). */
    outb(0x20, 0x11), outb(0xa0, 0x11);
    outb(0x21, 0x20), outb(0xa1, 0x28);
    outb(0x21, 0x04), outb(0xa1, 0x02);
    outb(0x21, 0x01), outb(0xa1, 0x01);
    outb(0x21, 0xff), outb(0xa1, 0xff);
}

/* One IDT for every CPU: it is never written after the boot CPU built it. */
void idt_load(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } packed p = {sizeof(idt) - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" ::"m"(p));
}

void idt_set_irq_handler(uint8_t vector, irq_handler_t handler) { irq_handlers[vector] = handler; }

/* Is it safe to read 16 bytes at va? Only hypervisor stack memory is walked. */
static bool frame_readable(vaddr_t va)
{
    return (va & 7) == 0 && addr_on_kstack(va) && addr_on_kstack(va + 15) && !is_guard_page(va) &&
           !is_guard_page(va + 15);
}

static void print_backtrace(const struct cpu_regs *regs)
{
    printk("backtrace:\n");
    printk("  0x%016lx\n", regs->rip);
    vaddr_t fp = regs->rbp;
    for (int depth = 0; depth < 24 && frame_readable(fp); depth++) {
        const uint64_t *frame = (const uint64_t *)fp;
        if (!frame[1])
            break;
        printk("  0x%016lx\n", frame[1]);
        if (frame[0] <= fp) /* frames must move up the stack, or the walk could loop */
            break;
        fp = frame[0];
    }
}

static noreturn void fatal_exception(struct cpu_regs *regs)
{
    struct percpu *cpu = this_cpu_careful();
    uint64_t cr2 = read_cr2();
    if (cpu->in_fatal_exception) {
        printk("*** EXCEPTION %lu while reporting an exception: system stopped\n", regs->vector);
        machine_stop(STOP_FAILURE);
    }
    cpu->in_fatal_exception = true;

    unsigned v = regs->vector & 31;
    printk("*** EXCEPTION %lu #%s %s err=0x%lx\n", regs->vector, exception_names[v].mnemonic,
           exception_names[v].name, regs->error_code);
    printk("rip=0x%016lx rsp=0x%016lx rflags=0x%016lx cr2=0x%016lx\n", regs->rip, regs->rsp, regs->rflags, cr2);
    printk("cs=0x%lx ss=0x%lx cr3=0x%016lx cr0=0x%lx cr4=0x%lx\n", regs->cs, regs->ss, read_cr3(), read_cr0(),
           read_cr4());
    printk("rax=0x%016lx rbx=0x%016lx rcx=0x%016lx rdx=0x%016lx\n", regs->rax, regs->rbx, regs->rcx, regs->rdx);
    printk("rsi=0x%016lx rdi=0x%016lx rbp=0x%016lx r8 =0x%016lx\n", regs->rsi, regs->rdi, regs->rbp, regs->r8);
    printk("r9 =0x%016lx r10=0x%016lx r11=0x%016lx r12=0x%016lx\n", regs->r9, regs->r10, regs->r11, regs->r12);
    printk("r13=0x%016lx r14=0x%016lx r15=0x%016lx\n", regs->r13, regs->r14, regs->r15);
    printk("cpu=%u apic_id=%u\n", cpu->id, cpu->apic_id);
    if (regs->vector == 14)
        printk("page fault: %s %s in %s mode%s\n", regs->error_code & 1 ? "protection violation" : "not-present page",
               regs->error_code & 2 ? "write" : regs->error_code & 16 ? "instruction fetch" : "read",
               regs->error_code & 4 ? "user" : "supervisor", regs->error_code & 8 ? ", reserved bit set" : "");
    print_backtrace(regs);
    printk("*** fatal exception: system stopped\n");
    machine_stop(STOP_FAILURE);
}

uint64_t fault_fixups;

void exception_dispatch(struct cpu_regs *regs)
{
    selftest_entry_check(regs);
    if (regs->vector >= 32) {
        irq_handler_t h = irq_handlers[regs->vector & 0xff];
        this_cpu()->irq_count++;
        if (h)
            h(regs);
        if (regs->vector != VEC_SPURIOUS)
            lapic_eoi();
        return;
    }
    uint64_t fixup = fault_fixup(regs->rip);
    if (fixup && (regs->vector == 14 || regs->vector == 13)) {
        regs->rip = fixup; /* a guest address faulted inside copy_user: report -EFAULT */
        fault_fixups++;
        return;
    }
    fatal_exception(regs);
}

void idt_fatal(struct cpu_regs *regs) { fatal_exception(regs); }

const char *exception_mnemonic(unsigned vector) { return vector < 32 ? exception_names[vector].mnemonic : "IRQ"; }
