// SPDX-License-Identifier: MIT
// Forged labels (issue 10, breach 1): an ssidref is two row numbers, the Chinese Wall row in the
// low half and the STE row in the high half; only pairs that name one label of the live policy
// may ever be accepted. Modes (cmdline mode=):
//   forge   label forger (may create red domains only): create children with forged ssidrefs
//   admin   label admin (read_state, load_policy): getssid, getdecision and relabel with forged
//           ssidrefs; and the manifest's forged domain (id forged=) must not exist
//   child   a domain that should never have been built: says so
#include <moat/acm.h>

#include "../common/attack.h"
#include "embedded_policies.h"

#define RED ATTACK_POLICY_SSID_RED
#define BLUE ATTACK_POLICY_SSID_BLUE
/* red's Chinese Wall row with blue's STE row: what breach 1 created. */
#define FORGED ((BLUE & 0xffff0000u) | (RED & 0xffffu))

static long create(uint32_t ssidref, const char *attack)
{
    int img = find_image("atk_label");
    char cmdline[64];
    snprintf(cmdline, sizeof(cmdline), "mode=child name=%s", attack);
    struct domctl_create_args a = {.image = img < 0 ? 0u : (uint32_t)img, .memory_kib = 128, .ssidref = ssidref,
                                   .name = "forged-child", .cmdline = cmdline};
    domid_t d;
    return domctl_create(&a, &d);
}

static void forge(void)
{
    /* The creator may create red: both halves must be red's. */
    expect_rc("create-forged-ssidref", create(FORGED, "create-forged-ssidref"), -XEN_EPERM);
    expect_rc("create-unlabeled-ste-half", create(RED & 0xffffu, "create-unlabeled-ste-half"), -XEN_EPERM);
    expect_rc("create-ssidref-out-of-range", create(0xffff0000u | (RED & 0xffffu), "create-ssidref-out-of-range"),
              -XEN_EPERM);
}

static void admin(void)
{
    struct acm_getssid g;
    uint32_t decision;
    expect_rc("getssid-forged-ssidref", acm_getssid_ssidref(FORGED, &g), -XEN_EINVAL);
    expect_rc("getdecision-forged-ssidref", acm_getdecision(FORGED, RED, ACM_HOOK_EVTCHN_BIND, &decision),
              -XEN_EINVAL);
    struct moat_domctl_info info;
    domid_t forged = (domid_t)cmdline_ulong("forged", DOMID_INVALID);
    long rc = domctl_getinfo(forged, &info);
    verdict("manifest-forged-ssidref", rc == -XEN_ESRCH, "the manifest's domain with ssidref %#x runs as %u (%ld)",
            FORGED, forged, rc);
    /* Last: on a broken hypervisor this takes admin's own permissions away. */
    expect_rc("relabel-forged-ssidref", acm_relabel(start_info->domid, FORGED, NULL), -XEN_EINVAL);
}

static void child(void)
{
    char name[48] = "unknown";
    cmdline_get("name", name, sizeof(name));
    verdict(name, false, "a domain runs with ssidref %#x", start_info->ssidref);
}

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {{"forge", forge}, {"admin", admin}, {"child", child}};
    return attack_main(modes, ARRAY_SIZE(modes));
}
