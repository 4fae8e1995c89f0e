// SPDX-License-Identifier: MIT
// COM1, a 16550 UART at I/O port 0x3f8: 115200 baud, 8N1, polled. And whether a UART is at a port
// (device assignment: COM2).
#include <moat/serial.h>
#include <moat/x86.h>

#define COM1 0x3f8
#define REG_DATA 0
#define REG_IER 1
#define REG_FCR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_SCRATCH 7
#define LSR_THR_EMPTY 0x20

void serial_init(void)
{
    outb(COM1 + REG_IER, 0x00); /* no interrupts: the console is polled */
    outb(COM1 + REG_LCR, 0x80); /* DLAB on to set the divisor */
    outb(COM1 + REG_DATA, 0x01); /* 115200 = 115200 / 1 */
    outb(COM1 + REG_IER, 0x00);
    outb(COM1 + REG_LCR, 0x03); /* 8 bits, no parity, one stop bit */
    outb(COM1 + REG_FCR, 0xc7); /* FIFOs on and cleared */
    outb(COM1 + REG_MCR, 0x03); /* DTR, RTS */
}

void serial_putc(char c)
{
    /* Bounded wait: a missing or stuck UART must not hang the hypervisor. */
    for (unsigned spins = 0; spins < 100000 && !(inb(COM1 + REG_LSR) & LSR_THR_EMPTY); spins++)
        cpu_relax();
    outb(COM1 + REG_DATA, (uint8_t)c);
}

bool uart_present(uint16_t port)
{
    /* A 16550 keeps what is written to its scratch register; an absent port reads all ones. */
    outb(port + REG_SCRATCH, 0x5a);
    if (inb(port + REG_SCRATCH) != 0x5a)
        return false;
    outb(port + REG_SCRATCH, 0xa5);
    return inb(port + REG_SCRATCH) == 0xa5;
}
