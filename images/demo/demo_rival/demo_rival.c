// SPDX-License-Identifier: MIT
// Demo: c-rival, customer C's domain (A's competitor), created by the system domain once
// customer A's domains are gone. It says hello with its label and ends.
#include <moat/acm.h>

#include "../common/demo.h"

int main(const struct start_info *si)
{
    struct acm_getssid self = {0};
    long rc = acm_getssid_domain(DOMID_SELF, &self); // one's own label needs no permission
    if (rc != 0)
        fail("reading my own label: %ld", rc);
    say("hello from customer C: domain %u, ssidref 0x%08x, running now that customer A is gone",
        si->domid, self.ssidref);
    return 0;
}
