/* SPDX-License-Identifier: MIT */
/*
 * More than one CPU: finding the application processors (APs) in the ACPI MADT, starting them
 * (INIT-SIPI-SIPI through a real-mode trampoline below 1 MiB), and asking them to run a function
 * (an IPI to the CPU's call mailbox). For now an AP takes no guest work: once up it halts with
 * interrupts on and counts its ticks.
 */
#ifndef MOAT_SMP_H
#define MOAT_SMP_H

/* The trampoline's four pages: code and data, then a PML4, a PDPT and a PD to reach long mode. */
#define TRAMPOLINE_PA 0x8000
#define TRAMPOLINE_PAGES 4

#ifndef __ASSEMBLER__
#include <moat/cpu.h>
#include <moat/types.h>

/*
 * Boot CPU, after the timer is calibrated: reads the MADT, starts every AP it lists, reports each
 * that does not come up (and parks it), and prints `cpus: N online`.
 */
void smp_boot(void);
unsigned smp_cpus_online(void);
unsigned smp_cpus_listed(void); /* CPUs the MADT listed and we tried (all, if it was usable) */
bool smp_cpu_online(unsigned cpu);

/*
 * Runs fn(arg) on CPU cpu, in its IPI handler (interrupts off), and waits until it returned,
 * however long that takes (an online CPU answers as soon as it runs; a wait past 5 seconds is
 * reported on the console). False if cpu is not online, is this CPU, or the IPI could not be
 * sent. A CPU waiting for the call lock still runs what others ask of it, so two CPUs calling
 * each other cannot deadlock.
 */
bool smp_call(unsigned cpu, void (*fn)(void *arg), void *arg);
/* The same on every other online CPU at once (one all-but-self IPI); returns how many answered. */
unsigned smp_call_others(void (*fn)(void *arg), void *arg);
/* fn(arg) on every online CPU, this one included, all at the same time; returns how many ran it. */
unsigned smp_call_each(void (*fn)(void *arg), void *arg);
/* Runs the call posted to this CPU, if any: for a CPU that waits with interrupts off. */
void smp_poll_calls(void);
/* Stops the other CPUs (the machine is stopping). */
void smp_stop_others(void);

/* `bench=smp` on the command line: IPI round trips, printed as `bench:` lines (moat bench). */
void smp_bench(void);

#endif
#endif
