// SPDX-License-Identifier: MIT
// Touches a device it was not given: `touch=tpm` reads the TPM's register page where an assigned
// domain would have it (GUEST_TPM_VA), `touch=com2` reads the second serial port's status
// register. Either must fault (the domain is killed) and be audited; printing after the access
// means the hypervisor let it through. `yields=N`: yields N times first, so that it runs after a
// domain holding the device has yielded to it (the scheduler's plain switch must not leave that
// domain's I/O ports open). `touch=hold-com2 rounds=N`: the holder's side, reading COM2's status
// and yielding N times: its ports must be open each time a yield brings it back; with sleep_us=U
// it sleeps U microseconds (set_timer_op and SCHEDOP_block) instead of each yield, so that a
// block switches it out (the scheduler's plain switch must not leave its ports open then either).
#include <public/device.h>

#include <moat/guest.h>

static uint8_t com2_status(void)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"((uint16_t)(COM2_PORT + 5)));
    return v;
}

int main(const struct start_info *si)
{
    (void)si;
    char what[16] = "";
    cmdline_get("touch", what, sizeof(what));
    for (unsigned long i = cmdline_ulong("yields", 0); i > 0; i--)
        sched_yield();
    if (!strcmp(what, "tpm")) {
        printf("touching the TPM page at 0x%lx\n", (unsigned long)GUEST_TPM_VA);
        uint32_t id = *(volatile uint32_t *)(GUEST_TPM_VA + 0xf00);
        printf("FAILED: read the TPM's vendor id 0x%x without holding the TPM\n", id);
    } else if (!strcmp(what, "com2")) {
        printf("touching COM2's line status register (port 0x%x)\n", COM2_PORT + 5);
        uint8_t v = com2_status();
        printf("FAILED: read COM2's status 0x%x without holding COM2\n", v);
    } else if (!strcmp(what, "hold-com2")) {
        unsigned long rounds = cmdline_ulong("rounds", 1), sleep_us = cmdline_ulong("sleep_us", 0);
        for (unsigned long i = 0; i < rounds; i++) {
            (void)com2_status();
            if (sleep_us && sleep_ns(sleep_us * 1000) != 0) {
                printf("FAILED: the holder's sleep\n");
                return 1;
            }
            if (!sleep_us)
                sched_yield();
        }
        printf("holder: read COM2's status %lu times, a %s between each\n", rounds, sleep_us ? "sleep" : "yield");
        return 0;
    } else {
        printf("usage: touch=tpm|com2|hold-com2\n");
    }
    return 1;
}
