// SPDX-License-Identifier: MIT
// Changes a running, attested system (tests/attest/test_runtime.py): while the agent (domain
// `agent=`) holds the TPM, a second agent cannot be given it (-EBUSY); once the agent is gone, it
// loads the update policy in revoke mode, relabels domain `idle=` (customer-a -> customer-b) and
// starts a new agent with the TPM and COM2, so the next quote must show all three in PCR 22.
// When that agent is gone too, it destroys `idle` and leaves.
// With `storm=<n>` it only loads the update policy n times, a few milliseconds apart, while the
// agent works: each load seizes the TPM from the agent, which must send its command again. The
// loads alternate between revoke mode (the first) and refuse mode (the same policy again finds
// nothing to refuse), so that the log must record each load's own mode.
#include <public/device.h>

#include <moat/acm.h>
#include <moat/evtchn.h>
#include <moat/guest.h>

#include "embedded_policies.h"

static long new_agent(domid_t *domid)
{
    int image = find_image("attest_agent");
    if (image < 0)
        panic("the attest_agent image is not loaded");
    struct domctl_create_args args = {.image = (uint32_t)image, .memory_kib = 1024,
                                      .ssidref = ATTEST_UPDATE_SSID_ATTEST, .name = "agent-2",
                                      .devices = DEVICE_BIT(DEVICE_TPM) | DEVICE_BIT(DEVICE_COM2)};
    return domctl_create(&args, domid);
}

/* Looks with getdomaininfo (-ESRCH once the domain is gone) and sleeps on VIRQ_DOM_EXC between
 * looks: a death between the look and the sleep leaves the port pending, so the wait returns at
 * once. (A bare SCHEDOP_block returned at once too, for ever: the upcall flag the first event
 * raised was never cleared, and the loader spun, 700,000 hypercalls while an agent worked.) */
static void wait_gone(domid_t domid, evtchn_port_t dom_exc)
{
    struct moat_domctl_info info;
    long rc;
    while ((rc = domctl_getinfo(domid, &info)) == 0) {
        long w = evtchn_wait(dom_exc, 0);
        if (w)
            panic("waiting on VIRQ_DOM_EXC: %ld", w);
    }
    printf("domain %u is gone (%ld)\n", domid, rc);
}

int main(const struct start_info *si)
{
    (void)si;
    domid_t agent = (domid_t)cmdline_ulong("agent", 0), idle = (domid_t)cmdline_ulong("idle", 0), second;
    unsigned long storm = cmdline_ulong("storm", 0);
    for (unsigned long i = 0; i < storm; i++) {
        struct acm_setpolicy out;
        uint32_t mode = i % 2 ? ACM_MODE_REFUSE : ACM_MODE_REVOKE;
        long lrc = acm_setpolicy(attest_update, (uint32_t)attest_update_size, mode, NULL, 0, &out);
        if (lrc) {
            printf("FAILED: load %lu of the update policy: %ld\n", i + 1, lrc);
            return 1;
        }
        sleep_ns(cmdline_ulong("gap_ms", 20) * NS_PER_MS);
    }
    if (storm) {
        printf("loaded the update policy %lu times\n", storm);
        return 0;
    }
    long rc = new_agent(&second);
    if (rc != -XEN_EBUSY) {
        printf("FAILED: a second agent while the first holds the TPM: %ld, expected -EBUSY\n", rc);
        return 1;
    }
    printf("a second agent while the first holds the TPM: -EBUSY, as it must be\n");

    long port = evtchn_bind_virq(VIRQ_DOM_EXC, 0);
    if (port < 0)
        panic("bind VIRQ_DOM_EXC: %ld", port);
    wait_gone(agent, (evtchn_port_t)port);

    struct acm_setpolicy out;
    rc = acm_setpolicy(attest_update, (uint32_t)attest_update_size, ACM_MODE_REVOKE, NULL, 0, &out);
    if (rc) {
        printf("FAILED: loading the update policy: %ld\n", rc);
        return 1;
    }
    struct acm_relabel rl;
    rc = acm_relabel(idle, ATTEST_UPDATE_SSID_CUSTOMER_B, &rl);
    if (rc) {
        printf("FAILED: relabelling domain %u: %ld\n", idle, rc);
        return 1;
    }
    rc = new_agent(&second);
    if (rc) {
        printf("FAILED: starting the second agent: %ld\n", rc);
        return 1;
    }
    printf("started agent-2 as domain %u\n", second);
    wait_gone(second, (evtchn_port_t)port);
    rc = domctl_destroy(idle);
    printf("destroyed domain %u: %ld\n", idle, rc);
    return rc ? 1 : 0;
}
