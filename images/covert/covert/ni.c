// SPDX-License-Identifier: MIT
// The noninterference pair (`moat noninterference`, docs/covert-channels.md): a high domain
// whose behaviour depends on a secret from its command line, and a low domain that prints
// everything it can observe, so that the tool can compare the low domain's view between boots
// with different secrets.
//
// high: secret=X t0=MS slot=US steps=K [low=ID] [create=1]
//   in step i (slot i from t0) it spins for the first three quarters of the step if bit i of X
//   is set (through the middle, when the low domain looks), and sleeps otherwise; it asks for an event channel to the low domain (refused when the policy
//   keeps them apart); with `create` it also holds a child domain of its own label through the
//   first three quarters of the steps whose bit is set.
// low: t0=MS slot=US steps=K [high=ID] [create=1]
//   in the middle of each step it prints one line of what it saw:
//     ni: step=i tsc=T stolen_ns=N cpu_ns=C info=R unbound=R memop=R gntq=S [child=ID create=R]
//   T is its own TSC; N the time it did not run while it spun for a tenth of the step; C its
//   own CPU time (getdomaininfo of itself); R and S the answers about the high domain.
#include <moat/evtchn.h>
#include <moat/gnttab.h>

#include "covert.h"

static uint64_t step_start(unsigned i)
{
    return cmdline_ulong("t0", 50) * NS_PER_MS + i * cmdline_ulong("slot", 5000) * NS_PER_US;
}

int ni_high(void)
{
    uint64_t secret = cmdline_ulong("secret", 0);
    unsigned steps = (unsigned)cmdline_ulong("steps", 16);
    domid_t low = (domid_t)cmdline_ulong("low", DOMID_INVALID);
    bool create = cmdline_has("create");
    for (unsigned i = 0; i < steps; i++) {
        uint64_t start = step_start(i), end = step_start(i + 1);
        sleep_until(start);
        bool bit = i < 64 && ((secret >> i) & 1);
        if (low != DOMID_INVALID)
            evtchn_alloc_unbound(low);
        domid_t child = DOMID_INVALID;
        if (bit && create && create_child(start_info->ssidref, 192, "high-child", &child))
            child = DOMID_INVALID;
        if (bit) /* the step's middle spent or not: the low domain runs later or not */
            spin_until(start + 3 * (end - start) / 4);
        sleep_until(start + 3 * (end - start) / 4);
        if (child != DOMID_INVALID)
            destroy_child(child);
    }
    printf("ni: high done\n");
    return 0;
}

int ni_low(void)
{
    unsigned steps = (unsigned)cmdline_ulong("steps", 16);
    domid_t high = (domid_t)cmdline_ulong("high", DOMID_INVALID);
    bool create = cmdline_has("create");
    for (unsigned i = 0; i < steps; i++) {
        uint64_t start = step_start(i), end = step_start(i + 1);
        sleep_until(start + (end - start) / 2);
        uint64_t tsc = rdtsc();
        /* Spin for a tenth of the step: the time others take from us shows as gaps. */
        uint64_t stolen = 0, last = now_ns(), stop = last + (end - start) / 10;
        for (uint64_t t = last; t < stop; t = now_ns()) {
            if (t - last > 20 * NS_PER_US)
                stolen += t - last;
            last = t;
        }
        struct moat_domctl_info self, other;
        long self_rc = domctl_getinfo(DOMID_SELF, &self);
        long info = domctl_getinfo(high, &other);
        long unbound = evtchn_alloc_unbound(high);
        if (unbound > 0)
            evtchn_close((evtchn_port_t)unbound);
        domid_t h = high;
        long memop = HYPERVISOR_memory_op(XENMEM_current_reservation, &h);
        int16_t gntq = gnttab_query_size(high, NULL, NULL);
        printf("ni: step=%u tsc=%lu stolen_ns=%lu cpu_ns=%lu info=%ld unbound=%ld memop=%ld gntq=%d", i,
               (unsigned long)tsc, (unsigned long)stolen, self_rc ? 0ul : (unsigned long)self.cpu_time_ns, info,
               unbound, memop, gntq);
        if (create) {
            domid_t child = DOMID_INVALID;
            long rc = create_child(start_info->ssidref, 192, "low-child", &child);
            if (rc == 0)
                destroy_child(child);
            printf(" child=%u create=%ld", rc == 0 ? child : 0u, rc);
        }
        printf("\n");
    }
    printf("ni: low done\n");
    return 0;
}
