/* SPDX-License-Identifier: MIT */
/* Port I/O for device assignment: which ports ring 3 may use. */
#ifndef MOAT_IOPORT_H
#define MOAT_IOPORT_H

#include <moat/types.h>

/* The I/O permission bitmap (the TSS's, arch/x86_64/gdt.c): ports 0..IO_BITMAP_PORTS-1; a set bit
 * denies. Loaded into this CPU's TSS. */
#define IO_BITMAP_PORTS 0x400
void io_bitmap_load(const uint8_t bitmap[IO_BITMAP_PORTS / 8]);

#endif
