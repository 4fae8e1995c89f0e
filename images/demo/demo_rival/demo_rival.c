// SPDX-License-Identifier: MIT
// Demo: c-rival, customer C's domain (A's competitor), created by the system domain once
// customer A's domains are gone. It says hello with its label and ends. With `who=service` it is
// the service-label domain the system domain creates while customer B is at its domain quota.
#include <moat/acm.h>

#include "../common/demo.h"

int main(const struct start_info *si)
{
    struct acm_getssid self = {0};
    long rc = acm_getssid_domain(DOMID_SELF, &self); // one's own label needs no permission
    if (rc != 0)
        fail("reading my own label: %ld", rc);
    if (cmdline_has("who=service")) {
        say("hello from the service label: domain %u, ssidref 0x%08x, created while customer B was at its "
            "quota", si->domid, self.ssidref);
        return 0;
    }
    say("hello from customer C: domain %u, ssidref 0x%08x, running now that customer A is gone",
        si->domid, self.ssidref);
    return 0;
}
