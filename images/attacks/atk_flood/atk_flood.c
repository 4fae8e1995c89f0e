// SPDX-License-Identifier: MIT
// Denial flood (issue 10 item 7): a domain without permissions provokes a denial in a loop. Each
// denial is counted, but the hypervisor prints at most a burst of lines and then a few a second,
// and says how many it did not print; a later denial, after a pause, is printed again. Modes:
//   flood target=<domid> n=<count> tail=<count> [pause_every=<k> pause_ms=<ms>]
//                                    n denied pauses (a sleep of pause_ms after every k), a pause of 1.5 s, one more,
//                                    then tail more at once and the end: the lines of the tail
//                                    that were not printed are counted at the flooder's end
//   judge flooder=<domid> n=<count> victim=<domid>   (label system) checks the hypervisor's
//                                    counters once the flooder is gone, then ends the victim
//   victim                           sleep until destroyed
#include <moat/acm.h>

#include "../common/attack.h"

static void flood(void)
{
    domid_t target = (domid_t)cmdline_ulong("target", DOMID_INVALID);
    unsigned long n = cmdline_ulong("n", 2000), refused = 0;
    /* A pause of pause_ms after every pause_every denials: the flood then lasts long enough for
     * the rate limit to let a few more lines through (one per 50 ms), however fast the CPU. */
    unsigned long every = cmdline_ulong("pause_every", 0), pause_ms = cmdline_ulong("pause_ms", 0);
    uint64_t t0 = now_ns();
    for (unsigned long i = 0; i < n; i++) {
        refused += domctl_pause(target) == -XEN_EPERM;
        if (every && (i + 1) % every == 0 && i + 1 < n)
            sleep_ns(pause_ms * NS_PER_MS);
    }
    uint64_t ms = (now_ns() - t0) / NS_PER_MS;
    printf("flood: %lu denials in %lu ms\n", n, (unsigned long)ms);
    verdict("deny-flood", refused == n, "only %lu of %lu pauses were refused", refused, n);
    sleep_ns(1500 * NS_PER_MS);
    verdict("deny-after-flood", domctl_pause(target) == -XEN_EPERM, "the pause after the flood was not refused");
    unsigned long tail = cmdline_ulong("tail", 0);
    refused = 0;
    for (unsigned long i = 0; i < tail; i++)
        refused += domctl_pause(target) == -XEN_EPERM;
    verdict("deny-tail", refused == tail, "only %lu of the last %lu pauses were refused", refused, tail);
}

static void judge(void)
{
    domid_t flooder = (domid_t)cmdline_ulong("flooder", DOMID_INVALID);
    unsigned long n = cmdline_ulong("n", 2000) + cmdline_ulong("tail", 0);
    if (!attack_wait_gone(flooder, now_ns() + 2 * ATTACK_WAIT_NS))
        printf("judge: the flooder never ended\n");
    struct acm_stats s;
    long rc = acm_dumpstats(&s);
    uint64_t denied = s.hook[ACM_HOOK_PRIVILEGED].denials;
    verdict("deny-flood-counted", rc == 0 && denied == n + 1 && s.audit_suppressed > 0 && s.audit_suppressed < n,
            "dumpstats %ld: %lu privileged denials (expected %lu), %lu lines suppressed", rc, (unsigned long)denied,
            n + 1, (unsigned long)s.audit_suppressed);
    domctl_destroy((domid_t)cmdline_ulong("victim", DOMID_INVALID));
}

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {{"flood", flood}, {"judge", judge}, {"victim", attack_sleep_forever}};
    return attack_main(modes, ARRAY_SIZE(modes));
}
