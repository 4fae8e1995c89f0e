// SPDX-License-Identifier: MIT
// The attack scenarios' janitor (label system): waits until the attackers listed in wait= are
// gone, then destroys the domains listed in kill= (victims that sleep forever), so every
// scenario ends by itself.   wait=<domid>[,<domid>...] kill=<domid>[,<domid>...]
#include "../common/attack.h"

/* Calls fn for each domain id of a comma-separated list in cmdline key. */
static void each_id(const char *key, void (*fn)(domid_t))
{
    char list[128];
    if (!cmdline_get(key, list, sizeof(list)))
        return;
    for (char *p = list; *p;) {
        unsigned long id = 0;
        while (*p >= '0' && *p <= '9')
            id = id * 10 + (unsigned long)(*p++ - '0');
        fn((domid_t)id);
        if (*p == ',')
            p++;
        else
            break;
    }
}

static void await(domid_t d)
{
    if (!attack_wait_gone(d, now_ns() + 4 * ATTACK_WAIT_NS))
        printf("reaper: domain %u never ended\n", d);
}

static void kill(domid_t d)
{
    long rc = domctl_destroy(d);
    if (rc != 0 && rc != -XEN_ESRCH)
        printf("reaper: destroying domain %u: %ld\n", d, rc);
}

int main(const struct start_info *si)
{
    (void)si;
    each_id("wait", await);
    each_id("kill", kill);
    return 0;
}
