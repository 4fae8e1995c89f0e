// SPDX-License-Identifier: MIT
// A spinner with several vCPUs (tests/resource/test_shares.py, a cap across CPUs): brings up
// vCPUs 1 to vcpus= - 1 (default 2) and spins on every one, vCPU 0 included, without a
// hypercall, so on a machine of several CPUs its vCPUs run at once. Tests destroy it through
// domctl.
#include <moat/guest.h>
#include <moat/vcpu.h>

static volatile uint64_t spins[MOAT_MAX_VCPUS];

static void spin(unsigned id)
{
    for (;;)
        spins[id]++;
}

int main(const struct start_info *si)
{
    unsigned long n = cmdline_ulong("vcpus", 2);
    for (unsigned id = 1; id < n && id < MOAT_MAX_VCPUS; id++) {
        long rc = vcpu_start(id, spin);
        if (rc) {
            printf("share_vcpus %u: vcpu %u: %ld\n", si->domid, id, rc);
            return 1;
        }
    }
    printf("share_vcpus %u up: %lu vcpus\n", si->domid, n);
    console_flush();
    spin(0);
    return 0;
}
