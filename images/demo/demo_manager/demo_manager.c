// SPDX-License-Identifier: MIT
// Demo: a customer's management domain (label manager-a or manager-b). Its permissions name only
// its customer's label: it may pause, destroy and read the state of that customer's domains, and
// of nobody else's. Two steps, each started by the system domain's go:
//  1. manages: pauses its customer's first domain, sees it paused, lets it run again; then tries
//     to pause and to destroy the other customer's domain, and must be refused (-EPERM, with the
//     hypervisor's audit line) each time;
//  2. winds its customer down: destroys its customer's domains and reports;
//  3. leaves, once the system domain has seen the report.
//   customer=<letter> mine=<domid>[,<domid>] other=<domid> other_name=<name>
#include "../common/demo.h"

static domid_t mine[4];
static unsigned nr_mine;

static void parse_mine(void)
{
    char list[32];
    if (!cmdline_get("mine", list, sizeof(list)))
        fail("usage: customer=<A|B> mine=<domid>[,<domid>] other=<domid>");
    for (char *p = list; *p && nr_mine < ARRAY_SIZE(mine);) {
        unsigned long id = 0;
        while (*p >= '0' && *p <= '9')
            id = id * 10 + (unsigned long)(*p++ - '0');
        mine[nr_mine++] = (domid_t)id;
        if (*p != ',')
            break;
        p++;
    }
}

static void manage(char customer, domid_t other)
{
    struct moat_domctl_info info;
    long rc = domctl_pause(mine[0]);
    if (rc != 0)
        fail("pausing our own domain %u: %ld", mine[0], rc);
    rc = domctl_getinfo(mine[0], &info);
    if (rc != 0 || info.state != DOMSTATE_PAUSED)
        fail("domain %u should be paused: getinfo %ld, state %u", mine[0], rc, info.state);
    say("paused %s (domain %u, customer %c): getdomaininfo says paused", info.name, mine[0], customer);
    if ((rc = domctl_unpause(mine[0])) != 0)
        fail("unpausing domain %u: %ld", mine[0], rc);
    say("unpaused %s", info.name);
    rc = domctl_pause(other);
    if (rc != -XEN_EPERM)
        fail("pausing another customer's domain %u: %ld, not -EPERM", other, rc);
    say("pausing domain %u (another customer's): refused with -EPERM (%ld), as the policy intends", other, rc);
    rc = domctl_destroy(other);
    if (rc != -XEN_EPERM)
        fail("destroying another customer's domain %u: %ld, not -EPERM", other, rc);
    say("destroying domain %u (another customer's): refused with -EPERM (%ld)", other, rc);
}

static void wind_down(char customer)
{
    for (unsigned i = 0; i < nr_mine; i++) {
        long rc = domctl_destroy(mine[i]);
        if (rc != 0)
            fail("destroying our own domain %u: %ld", mine[i], rc);
        say("destroyed domain %u (customer %c)", mine[i], customer);
    }
    say("customer %c's domains are gone", customer);
}

int main(const struct start_info *si)
{
    (void)si;
    char c[4] = "?";
    cmdline_get("customer", c, sizeof(c));
    domid_t other = (domid_t)cmdline_ulong("other", DOMID_INVALID);
    parse_mine();
    if (other == DOMID_INVALID || nr_mine == 0)
        fail("usage: customer=<A|B> mine=<domid>[,<domid>] other=<domid>");
    actor_ctl_open();
    actor_wait_go();
    manage(c[0], other);
    actor_done();
    actor_wait_go();
    wind_down(c[0]);
    actor_done();
    actor_wait_go(); // the system domain has seen our report: leave
    say("customer %c's manager leaves too", c[0]);
    return 0;
}
