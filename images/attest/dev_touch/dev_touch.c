// SPDX-License-Identifier: MIT
// Touches a device it was not given: `touch=tpm` reads the TPM's register page where an assigned
// domain would have it (GUEST_TPM_VA), `touch=com2` reads the second serial port's status
// register. Either must fault (the domain is killed) and be audited; printing after the access
// means the hypervisor let it through.
#include <public/device.h>

#include <moat/guest.h>

int main(const struct start_info *si)
{
    (void)si;
    char what[8] = "";
    cmdline_get("touch", what, sizeof(what));
    if (!strcmp(what, "tpm")) {
        printf("touching the TPM page at 0x%lx\n", (unsigned long)GUEST_TPM_VA);
        uint32_t id = *(volatile uint32_t *)(GUEST_TPM_VA + 0xf00);
        printf("FAILED: read the TPM's vendor id 0x%x without holding the TPM\n", id);
    } else if (!strcmp(what, "com2")) {
        printf("touching COM2's line status register (port 0x%x)\n", COM2_PORT + 5);
        uint8_t v;
        __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"((uint16_t)(COM2_PORT + 5)));
        printf("FAILED: read COM2's status 0x%x without holding COM2\n", v);
    } else {
        printf("usage: touch=tpm|com2\n");
    }
    return 1;
}
