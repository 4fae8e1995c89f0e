/* SPDX-License-Identifier: MIT */
/*
 * Device assignment (public/device.h): a domain gets a device's MMIO page or I/O ports only if
 * its label permits it and no other live domain holds the device. The I/O permission bitmap in
 * the TSS follows the running domain.
 */
#ifndef MOAT_DEVICE_H
#define MOAT_DEVICE_H

#include <moat/cpu.h>
#include <moat/types.h>

struct domain;

/* Checks and gives d the devices in mask (d's page tables exist). 0 or -XEN_E*; nothing held then. */
long device_assign(struct domain *d, uint32_t mask, struct domain *creator);
/* Gives back everything d holds (idempotent). */
void device_release(struct domain *d);
bool device_holds(const struct domain *d, unsigned dev);
/* On every switch: open exactly next's I/O ports (if it holds any). */
void device_switch_to(const struct domain *next);
/* A guest fault about to kill d: if it touched a device it does not hold, audit it. */
void device_audit_fault(struct domain *d, const struct cpu_regs *regs, uint64_t cr2);

/* The TSS's I/O permission bitmap (arch/x86_64/gdt.c): ports 0..IO_BITMAP_PORTS-1; a set bit denies. */
#define IO_BITMAP_PORTS 0x400
void tss_set_io_bitmap(const uint8_t bitmap[IO_BITMAP_PORTS / 8]);

#endif
