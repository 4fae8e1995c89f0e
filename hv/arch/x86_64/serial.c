// SPDX-License-Identifier: MIT
// COM1, a 16550 UART at I/O port 0x3f8: 115200 baud, 8N1, polled. And whether a UART is at a port
// (device assignment: COM2).
#include <moat/serial.h>
#include <moat/timer.h>
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

/*
 * The wait for room is bounded, so a missing or stuck UART cannot hang the hypervisor, but the
 * bound is long: QEMU's UART holds a character back while whatever reads the console (a pipe to
 * the test harness) is not reading, and a character written past a full transmitter is lost.
 * On a loaded host a reader can stall for seconds; the old bound of 100,000 polls (a fraction of
 * a second under QEMU) lost characters from the middle of lines. The wait is counted in time
 * once the TSC is calibrated (in polls before that), and after one wait runs out the UART is
 * taken to be stuck: later characters wait only briefly, until it is seen ready again.
 */
#define SERIAL_WAIT_MS 10000u
#define SERIAL_WAIT_POLLS 20000000u /* before the TSC is calibrated */
#define SERIAL_STUCK_POLLS 1000u
static bool uart_stuck;

static bool wait_for_room(void)
{
    uint64_t khz = uart_stuck ? 0 : tsc_khz();
    uint64_t deadline = khz ? rdtsc() + SERIAL_WAIT_MS * khz : 0;
    for (unsigned polls = 0, limit = uart_stuck ? SERIAL_STUCK_POLLS : SERIAL_WAIT_POLLS;;) {
        cpu_relax();
        if (inb(COM1 + REG_LSR) & LSR_THR_EMPTY)
            return true;
        if (khz ? rdtsc() >= deadline : ++polls >= limit)
            return false;
    }
}

void serial_putc(char c)
{
    /* The usual case, a transmitter with room, costs one port read. */
    uart_stuck = (inb(COM1 + REG_LSR) & LSR_THR_EMPTY) ? false : !wait_for_room();
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
