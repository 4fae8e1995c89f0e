// SPDX-License-Identifier: MIT
// C start-up: remember the start-info and shared-info pages, then run test_main or main.
#include <moat/guest.h>
#include <moat/test.h>
#include <moat/xstate.h>

const struct start_info *start_info;
struct shared_info *shared_info;

// Exactly one is defined by the guest: test_main (test images) or main (everything else).
extern void test_main(void) __attribute__((weak));
extern int main(const struct start_info *si) __attribute__((weak));

extern char __bss_start[], __bss_end[];

__attribute__((noreturn)) void guest_start(const struct start_info *si);
__attribute__((noreturn)) void guest_start(const struct start_info *si)
{
    // The hypervisor hands over .bss as zeros (memsz beyond filesz); clearing it again costs
    // little and keeps a loader mistake from turning into stale data.
    // The linker's two symbols are different objects: subtract their addresses, not the pointers.
    memset(__bss_start, 0, (size_t)((uintptr_t)__bss_end - (uintptr_t)__bss_start));
    xstate_init(); /* before any upcall can arrive (events stay masked until the guest installs one) */
    start_info = si;
    shared_info = (struct shared_info *)si->shared_info_va;

    if (memcmp(si->magic, MOAT_START_MAGIC, sizeof(MOAT_START_MAGIC)) != 0)
        panic("start-info magic is not \"%s\"", MOAT_START_MAGIC);
    if (test_main && main)
        panic("the image defines both test_main and main");
    if (test_main)
        xtf_run(test_main);
    if (main)
        exit(main(si));
    panic("the image defines neither test_main nor main");
}

void exit(int status)
{
    console_flush();
    sched_shutdown(status == 0 ? SHUTDOWN_poweroff : SHUTDOWN_crash);
    // The shutdown was refused: there is nowhere to return to. Fault so the domain dies anyway.
    for (;;)
        __asm__ volatile("ud2");
}

void panic(const char *fmt, ...)
{
    va_list ap;

    console_flush();
    printf("PANIC: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    console_flush();
    sched_shutdown(SHUTDOWN_crash);
    for (;;)
        __asm__ volatile("ud2");
}
