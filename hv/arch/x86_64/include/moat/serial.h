/* SPDX-License-Identifier: MIT */
/* The 16550 UARTs: COM1, the hypervisor's console (printk), and probing for another (COM2). */
#ifndef MOAT_SERIAL_H
#define MOAT_SERIAL_H

#include <moat/types.h>

void serial_init(void);
void serial_putc(char c);
/* Whether a 16550 answers at port (device assignment checks COM2 is there). */
bool uart_present(uint16_t port);

#endif
