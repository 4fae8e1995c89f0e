// SPDX-License-Identifier: MIT
// The hypervisor's own TPM access: TIS locality 2 (a register page no guest is ever given), and
// the only commands measuring needs: PCR_Reset, PCR_Extend, and Startup if the firmware did not
// start the TPM. A domain holding the TPM uses locality 0; when the hypervisor needs the TPM at
// run time it seizes it (the agent's interrupted command fails and the agent sends it again).
//
// Startup is the one command sent from locality 0: a PC Client TPM takes it from locality 0 or 3
// only (TPM_RC_LOCALITY from 2). It is only ever needed on the first command of the boot, before
// any domain exists to hold locality 0: once started, a TPM stays started until the platform
// resets it, and no guest command can undo that.
#include <lib/tpm2.h>
#include <lib/tpm_tis.h>
#include <moat/arch.h>
#include <moat/config.h>
#include <moat/console.h>
#include <moat/measure.h>
#include <moat/timer.h>
#include <moat/tpm.h>
#include <public/hv.h>
#include <public/measure.h>

/* Fixmap slots away from the local APIC's (FIXMAP_BASE) and the TPM self-test's (17, 18). */
#define TPM_HV_VA (FIXMAP_BASE + 16 * PAGE_SIZE)
#define TPM_HV_LOC0_VA (FIXMAP_BASE + 19 * PAGE_SIZE)

static bool present;

static uint64_t hv_now_us(void)
{
    uint64_t khz = tsc_khz();
    return khz ? arch_cycles() / (khz / 1000 ? khz / 1000 : 1) : arch_cycles() >> 10;
}

static void hv_relax(void) { cpu_relax(); }

static const struct tis hv_tis = {
    .regs = (volatile uint8_t *)TPM_HV_VA,
    .now_us = hv_now_us,
    .relax = hv_relax,
};

/* Locality 0, for TPM2_Startup only (see the top of this file). */
static const struct tis hv_tis0 = {
    .regs = (volatile uint8_t *)TPM_HV_LOC0_VA,
    .now_us = hv_now_us,
    .relax = hv_relax,
};

static long command(const struct tis *tis, const uint8_t *cmd, size_t len, uint32_t *rc)
{
    if (!len)
        return -XEN_EINVAL; /* the command did not fit its buffer: a bug here, not the TPM's */
    uint8_t rsp[64];
    size_t got;
    /* Locality 2 seizes whatever a domain holds; locality 0 is only used before domains exist. */
    enum tis_result r = tis_request_locality(tis, tis == &hv_tis);
    if (r == TIS_OK)
        r = tis_transmit(tis, cmd, len, rsp, sizeof(rsp), &got, TIS_TIMEOUT_LONG_US);
    tis_release_locality(tis);
    if (r != TIS_OK) {
        printk("measure: TPM command 0x%x failed: %s\n", (cmd[6] << 24) | (cmd[7] << 16) | (cmd[8] << 8) | cmd[9],
               tis_result_name(r));
        return -XEN_EIO;
    }
    struct tpm2_rsp rd;
    *rc = tpm2_rsp_begin(&rd, rsp, got);
    return 0;
}

/* Sends a command; starts the TPM first if nobody did (TPM_RC_INITIALIZE). */
static long run(const uint8_t *cmd, size_t len)
{
    uint32_t rc;
    long err = command(&hv_tis, cmd, len, &rc);
    if (!err && rc == TPM2_RC_INITIALIZE) {
        uint8_t su[16];
        uint32_t src;
        err = command(&hv_tis0, su, tpm2_cmd_startup(su, sizeof(su), TPM2_SU_CLEAR), &src);
        if (!err && src != TPM2_RC_SUCCESS) {
            printk("measure: TPM2_Startup failed: rc 0x%x\n", src);
            return -XEN_EIO;
        }
        if (!err) {
            printk("measure: the firmware left the TPM unstarted: TPM2_Startup(CLEAR) sent from locality 0\n");
            err = command(&hv_tis, cmd, len, &rc);
        }
    }
    if (!err && rc != TPM2_RC_SUCCESS) {
        printk("measure: TPM command failed: rc 0x%x\n", rc);
        return -XEN_EIO;
    }
    return err;
}

bool tpm_init(void)
{
    paddr_t pa = TIS_BASE + MEASURE_LOCALITY * TIS_LOCALITY_SIZE;
    if (!paging_map_page(TPM_HV_VA, pa, MAP_WRITABLE | MAP_UNCACHED | MAP_NOEXEC) ||
        !paging_map_page(TPM_HV_LOC0_VA, TIS_BASE, MAP_WRITABLE | MAP_UNCACHED | MAP_NOEXEC))
        return false;
    present = tis_present(&hv_tis);
    return present;
}

long tpm_pcr_reset(uint32_t pcr)
{
    if (!present)
        return -XEN_ENOSYS;
    uint8_t cmd[32];
    return run(cmd, tpm2_cmd_pcr_reset(cmd, sizeof(cmd), pcr));
}

long tpm_pcr_extend(uint32_t pcr, const uint8_t digest[32])
{
    if (!present)
        return -XEN_ENOSYS;
    uint8_t cmd[96];
    return run(cmd, tpm2_cmd_pcr_extend_sha256(cmd, sizeof(cmd), pcr, digest));
}
