// SPDX-License-Identifier: MIT
// The timing channels: what the receiver can tell from when it runs. Sender and receiver need
// no permission at all (labels tx-plain and rx-plain).
//   cpu      the sender spins through the slot (1) or sleeps (0); the receiver spins too and
//            measures the time it did not run (round robin gave the CPU to the sender)
//   timer    the same sender; the receiver sleeps until the middle of the slot and measures how
//            late its timer woke it (a woken domain waits for the running one's slice to end)
//   tick     the sender is blocked in both cases, waiting for the next slot with its timer (1)
//            or with SCHEDOP_poll and a timeout (0); the receiver spins and measures the
//            shortest interruption, the timer tick, whose work depends on other domains' state
//   console  the sender writes 1 KiB to the console (1) or nothing (0) in the middle of the
//            slot; the receiver yields in a loop and measures the time the yields took
#include "covert.h"

/* Interruptions shorter than this are the tick (or nothing); longer ones are another domain. */
#define OTHER_DOMAIN_NS (20 * NS_PER_US)

static void spin_or_sleep(bool bit, uint64_t start, uint64_t end)
{
    (void)start;
    if (bit)
        spin_until(end);
    else
        sleep_until(end);
}

/* Spins until end; the sum of the gaps longer than OTHER_DOMAIN_NS (another domain ran) since
 * start, counting the one before the first reading (the sender may have run first). */
static uint64_t stolen(uint64_t start, uint64_t end)
{
    uint64_t lost = 0, last = start;
    for (uint64_t t = last; t < end; t = now_ns()) {
        if (t - last > OTHER_DOMAIN_NS)
            lost += t - last;
        last = t;
    }
    return lost;
}

/* A quarter into the slot: the middle would be where a spinning sender's slice ends (a slot is
 * two slices), and the receiver would run on time either way. */
static uint64_t timer_lateness(uint64_t start, uint64_t end)
{
    uint64_t target = start + (end - start) / 4;
    sleep_until(target);
    return now_ns() - target;
}

const struct channel chan_cpu = {.name = "cpu", .send = spin_or_sleep, .measure = stolen};
const struct channel chan_timer = {.name = "timer", .send = spin_or_sleep, .measure = timer_lateness};

/* tick: blocked with a timer armed, or polling with a timeout and no timer; woken at the end. */
static void timer_or_poll(bool bit, uint64_t start, uint64_t end)
{
    (void)start;
    if (bit) {
        sleep_until(end);
        return;
    }
    HYPERVISOR_set_timer_op(0);
    while (now_ns() < end)
        sched_poll(NULL, 0, end);
}

/*
 * The receiver spins through [start + 3/8, end - 1/8] of the slot and keeps the shortest
 * interruption in TSC counts: the tick, whose cost is what the sender modulates. It sleeps
 * through the rest, so the sender can run.
 *
 * Guest timers fire at the first tick after their deadline, so every wake-up lands up to a tick
 * late, wherever the tick's phase happens to be against the slots (it moves with anything that
 * changes the boot's length). The window's opening deadline is therefore half a 4 ms slot's tick
 * away from the slot edges, where the sender's deadlines are: the two never fall due at the same
 * tick (the receiver would run first and spin while the woken sender waited in the queue, and
 * the sender would no longer be blocked during the measurement), and the window, however late it
 * opens, still spans a whole tick period before it closes.
 */
static uint64_t shortest_tick(uint64_t start, uint64_t end)
{
    uint64_t eighth = (end - start) / 8, shortest = UINT64_MAX;
    sleep_until(start + 3 * eighth);
    uint64_t stop = end - eighth;
    uint64_t last = rdtsc();
    while (now_ns() < stop) {
        uint64_t t = rdtsc();
        /* A loop round is a few dozen counts; anything longer is an interruption. */
        if (t - last > 200 && t - last < shortest)
            shortest = t - last;
        last = t;
    }
    return shortest == UINT64_MAX ? 0 : shortest;
}

const struct channel chan_tick = {.name = "tick", .send = timer_or_poll, .measure = shortest_tick};

/* console: the sender prints in the middle of the slot, while the receiver yields in a loop. */
static void print_or_sleep(bool bit, uint64_t start, uint64_t end)
{
    sleep_until(start + (end - start) / 2);
    if (bit) {
        static char text[1024];
        for (unsigned i = 0; i < sizeof(text); i++)
            text[i] = (i % 128 == 127) ? '\n' : (char)('a' + i % 26);
        console_write(text, sizeof(text));
    }
    sleep_until(end);
}

/*
 * From a quarter of the slot to its last eighth, the receiver yields in a loop: each yield gives
 * the CPU to the sender if it has something to do. The sum of the yields that took longer than
 * OTHER_DOMAIN_NS is the time the sender took.
 */
static uint64_t yielded(uint64_t start, uint64_t end)
{
    sleep_until(start + (end - start) / 4);
    uint64_t lost = 0, stop = end - (end - start) / 8;
    for (uint64_t t = now_ns(); t < stop;) {
        sched_yield();
        uint64_t after = now_ns();
        if (after - t > OTHER_DOMAIN_NS)
            lost += after - t;
        t = after;
    }
    return lost;
}

const struct channel chan_console = {.name = "console", .send = print_or_sleep, .measure = yielded};
