// SPDX-License-Identifier: MIT
// Commits one guest fault, chosen by `fault=<kind>` on the command line. The hypervisor must crash
// this domain alone (a structured crash line, its frames freed) and keep the others running.
// Each kind is its own noinline function so the crash record's symbol names it.
#include <moat/test.h>

#define FAULT_FN __attribute__((noinline, used))

static volatile uint64_t sink;
static volatile uint64_t never = ~0ULL;
static const uint8_t code_in_rodata[] = { 0xc3 };  // ret: executing it must fault (NX)
static uint8_t code_in_data[] = { 0xc3 };

FAULT_FN static void do_hvmem(void)    { sink = *(volatile uint64_t *)0xffffffff80100000ULL; }
FAULT_FN static void do_null(void)     { sink = *(volatile uint64_t *)0; }
FAULT_FN static void do_noncanon(void) { sink = *(volatile uint64_t *)0x0000900000000000ULL; }
FAULT_FN static void do_cli(void)      { __asm__ volatile("cli"); }
FAULT_FN static void do_hlt(void)      { __asm__ volatile("hlt"); }
FAULT_FN static void do_cr3(void)      { __asm__ volatile("mov %0, %%cr3" : : "r"(0UL) : "memory"); }
FAULT_FN static void do_in(void)       { uint8_t v; __asm__ volatile("inb $0x60, %0" : "=a"(v)); sink = v; }
FAULT_FN static void do_out(void)      { __asm__ volatile("outb %0, $0xf4" : : "a"((uint8_t)0)); }
FAULT_FN static void do_wrmsr(void)    { __asm__ volatile("wrmsr" : : "c"(0xc0000082U), "a"(0), "d"(0)); }
FAULT_FN static void do_lgdt(void)     { uint64_t d[2] = { 0, 0 }; __asm__ volatile("lgdt %0" : : "m"(d)); }
FAULT_FN static void do_ud2(void)      { __asm__ volatile("ud2"); }
FAULT_FN static void do_int3(void)     { __asm__ volatile("int3"); }
FAULT_FN static void do_int80(void)    { __asm__ volatile("int $0x80"); }

FAULT_FN static void do_de(void)
{
    // Through asm: a C division by zero is undefined behaviour the compiler may drop.
    uint64_t lo = 1, hi = 0, divisor = 0;
    __asm__ volatile("divq %2" : "+a"(lo), "+d"(hi) : "r"(divisor));
    sink = lo;
}

FAULT_FN static uint64_t do_stack(uint64_t depth)
{
    // A frame the compiler cannot elide, used after the call so it is no tail call.
    volatile uint8_t frame[256];
    if (depth == never)  // a way out the compiler cannot rule out, so it accepts the recursion
        return 0;
    frame[0] = (uint8_t)depth;
    return do_stack(depth + 1) + frame[0];
}

FAULT_FN static void do_start_info_write(void)
{
    *(volatile uint8_t *)start_info = 0;  // the start-info page is read-only
}

FAULT_FN static void do_text_write(void)
{
    *(volatile uint8_t *)(uintptr_t)&do_text_write = 0xc3;  // W^X: code is not writable
}

FAULT_FN static void do_nx_data(void)   { ((void (*)(void))(uintptr_t)code_in_data)(); }
FAULT_FN static void do_nx_rodata(void) { ((void (*)(void))(uintptr_t)code_in_rodata)(); }

static const struct {
    const char *name;
    void (*fn)(void);
} faults[] = {
    { "hvmem", do_hvmem }, { "null", do_null }, { "noncanon", do_noncanon },
    { "cli", do_cli }, { "hlt", do_hlt }, { "cr3", do_cr3 }, { "in", do_in }, { "out", do_out },
    { "wrmsr", do_wrmsr }, { "lgdt", do_lgdt }, { "ud2", do_ud2 }, { "int3", do_int3 },
    { "int80", do_int80 }, { "de", do_de }, { "start_info_write", do_start_info_write },
    { "text_write", do_text_write }, { "nx_data", do_nx_data }, { "nx_rodata", do_nx_rodata },
};

void test_main(void)
{
    char kind[32] = "";

    if (!cmdline_get("fault", kind, sizeof(kind))) {
        xtf_error("Error: no fault=<kind> on the command line\n");
        return;
    }
    printf("committing fault '%s'\n", kind);
    if (strcmp(kind, "panic") != 0) /* the panic message would join it */
        printf("last words before fault '%s'", kind); /* no newline: the hypervisor prints it when we stop */
    console_flush();
    if (strcmp(kind, "stack") == 0) {
        sink = do_stack(0);
    } else if (strcmp(kind, "panic") == 0) {
        // No fault: the guest's own panic, a shutdown with reason crash (an expected end too).
        panic("crashing on purpose");
    } else {
        unsigned i;
        for (i = 0; i < ARRAY_SIZE(faults); i++)
            if (strcmp(kind, faults[i].name) == 0)
                break;
        if (i == ARRAY_SIZE(faults)) {
            xtf_error("Error: unknown fault '%s'\n", kind);
            return;
        }
        faults[i].fn();
    }
    xtf_failure("Fail: fault '%s' did not stop the domain\n", kind);
}
