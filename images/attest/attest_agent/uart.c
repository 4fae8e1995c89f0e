// SPDX-License-Identifier: MIT
// A polled 16550 UART on COM2. The hypervisor opened exactly these eight ports in the TSS I/O
// bitmap for this domain (device com2); any other port, or these in another domain, faults.
#include <public/device.h>

#include "agent.h"

#define RBR 0 /* receive buffer / transmit holding register */
#define IER 1
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

void uart_init(void)
{
    outb(COM2_PORT + IER, 0x00);   /* polled: no interrupts */
    outb(COM2_PORT + LCR, 0x80);   /* divisor latch */
    outb(COM2_PORT + 0, 0x01);     /* 115200 baud */
    outb(COM2_PORT + 1, 0x00);
    outb(COM2_PORT + LCR, 0x03);   /* 8 data bits, no parity, one stop bit */
    /* FIFOs on and cleared, receive trigger level 14 bytes: polled, the level raises no interrupt,
     * but QEMU's 16550 hands the FIFO only up to that level from its backend at once (1 byte at the
     * default level, so a long request arrived a byte per look). */
    outb(COM2_PORT + FCR, 0xc7);
    outb(COM2_PORT + MCR, 0x03);   /* DTR, RTS */
}

void uart_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (!(inb(COM2_PORT + LSR) & LSR_THR_EMPTY))
            ;
        outb(COM2_PORT + RBR, (uint8_t)s[i]);
    }
}

int uart_read(void)
{
    if (!(inb(COM2_PORT + LSR) & LSR_DATA_READY))
        return -1;
    return inb(COM2_PORT + RBR);
}
