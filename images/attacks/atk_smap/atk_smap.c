// SPDX-License-Identifier: MIT
// SMAP off by a guest (issue 10, breach 5): a guest sets EFLAGS.AC, which ring 3 may do, and
// keeps it set while it takes timer ticks, events and a fault-free run of hypercalls. The
// hypervisor must clear AC on every entry, or it runs the tick, the scheduler and upcall
// delivery with SMAP switched off. The moat-selftest build checks AC at every entry into C and
// stops the machine if it is set (tests/attacks/scenarios/smap.toml boots that build), so this
// guest's verdict only comes out if AC never reached ring 0.
#include "../common/attack.h"

#define RFLAGS_AC (1ul << 18)

static inline void set_ac(void)
{
    __asm__ volatile("pushfq; orq %0, (%%rsp); popfq" ::"i"(RFLAGS_AC) : "memory", "cc");
}

static inline bool ac_set(void)
{
    unsigned long f;
    __asm__ volatile("pushfq; popq %0" : "=r"(f));
    return f & RFLAGS_AC;
}

static volatile uint64_t upcalls;

static void on_timer(evtchn_port_t port, void *data)
{
    (void)port, (void)data;
    upcalls++;
}

int main(const struct start_info *si)
{
    (void)si;
    /* Ticks: spin with AC set for 50 ms of system time (about 50 timer interrupts). */
    set_ac();
    uint64_t end = now_ns() + 50 * NS_PER_MS, spins = 0;
    while (now_ns() < end)
        spins++;
    bool kept = ac_set();
    /* Upcalls: the timer VIRQ delivered to a handler while the interrupted code runs with AC. */
    evtchn_init();
    long port = timer_bind();
    if (port >= 0)
        evtchn_set_handler((evtchn_port_t)port, on_timer, NULL);
    for (int i = 0; i < 10; i++) {
        HYPERVISOR_set_timer_op(now_ns() + NS_PER_MS);
        set_ac();
        uint64_t until = now_ns() + 200 * NS_PER_MS; /* the upcall comes at the next tick after 1 ms */
        while (now_ns() < until && upcalls <= (uint64_t)i)
            ;
    }
    verdict("smap-ac-ticks", kept && spins > 0, "AC was not kept in ring 3 (spins %lu)", (unsigned long)spins);
    verdict("smap-ac-upcalls", port >= 0 && upcalls >= 10, "timer port %ld, %lu upcalls", port,
            (unsigned long)upcalls);
    return 0;
}
