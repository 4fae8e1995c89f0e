/* SPDX-License-Identifier: MIT */
/*
 * Device assignment (public/device.h): a domain gets a device's MMIO page or I/O ports only if
 * its label permits it and no other live domain holds the device. The I/O ports a CPU lets ring 3
 * use follow the running domain (io_bitmap_load, moat/ioport.h).
 */
#ifndef MOAT_DEVICE_H
#define MOAT_DEVICE_H

#include <moat/domain.h>
#include <moat/types.h>

/* Checks and gives d the devices in mask (d's page tables exist). 0 or -XEN_E*; nothing held then. */
long device_assign(struct domain *d, uint32_t mask, struct domain *creator);
/* Gives back everything d holds (idempotent). */
void device_release(struct domain *d);
bool device_holds(const struct domain *d, unsigned dev);
/* How many CPUs have some device's I/O ports open now (device_switch_ports). */
extern unsigned device_ports_open_cpus;
/* Opens exactly next's I/O ports on this CPU's bitmap (device_switch_to's slow part). */
void device_switch_ports(const struct domain *next);
/* Does device_switch_to have nothing to do for next (it holds no device, and no CPU has ports
 * open)? (The scheduler's plain switch tests it first.) */
static inline bool device_switch_none(const struct domain *next)
{
    return !next->devices && !device_ports_open_cpus;
}
/*
 * On every switch: open exactly next's I/O ports (if it holds any). Inline, and nothing to do in
 * the common case, so a switch between domains without devices pays two loads for it.
 */
static inline void device_switch_to(const struct domain *next)
{
    if (!device_switch_none(next))
        device_switch_ports(next);
}
/* A guest fault about to kill d, at fault_addr (a page fault; else 0) or on I/O port port (else
 * -1): if it touched a device it does not hold, audit it. */
void device_audit_fault(struct domain *d, uint64_t fault_addr, int port);

#endif
