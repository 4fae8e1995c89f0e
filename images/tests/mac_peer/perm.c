// SPDX-License-Identifier: MIT
// Privileged operations by domains whose label lacks the permission (tests/mac/test_perm.py):
// each must fail with -EPERM, and the hypervisor prints one audit line per denial. The labels
// (tests/scenarios/policies/mac-test.toml): red has no permissions, reader may only read state,
// limited may only create red domains. Nothing here depends on the caller's domain id: the
// scenario makes the unprivileged tester domain 0.
#include <moat/acm.h>
#include <moat/test.h>
#include <public/event_channel.h>

#include "embedded_policies.h"
#include "peer.h"

static domid_t other(void) { return (domid_t)cmdline_ulong("other", DOMID_INVALID); }

/* Checks one result and prints it for the boot test, which matches it with the audit line. */
static void expect(const char *op, long rc, long want)
{
    printf("perm: %s rc=%ld\n", op, rc);
    xtf_check(rc == want, "%s returned %ld, expected %ld", op, rc, want);
}

static long create(uint32_t ssidref, const char *cmdline)
{
    int img = find_image("mac_peer");
    struct domctl_create_args a = { .image = img < 0 ? 0u : (uint32_t)img, .memory_kib = 256, .ssidref = ssidref,
                                    .name = "perm-child", .cmdline = cmdline };
    domid_t d;
    return domctl_create(&a, &d);
}

static long evtchn(int cmd, void *arg) { return HYPERVISOR_event_channel_op(cmd, arg); }

static void domctls(domid_t o, bool may_read)
{
    struct moat_domctl_info info;
    expect("destroy", domctl_destroy(o), -XEN_EPERM);
    expect("pause", domctl_pause(o), -XEN_EPERM);
    expect("unpause", domctl_unpause(o), -XEN_EPERM);
    expect("getinfo", domctl_getinfo(o, &info), may_read ? 0 : -XEN_EPERM);
    domid_t id = o;
    long pages = HYPERVISOR_memory_op(XENMEM_current_reservation, &id);
    expect("memory_op", may_read && pages > 0 ? 0 : pages, may_read ? 0 : -XEN_EPERM);
}

static void policy_ops(domid_t o, bool may_read)
{
    static uint8_t buf[4096];
    struct acm_setpolicy sp;
    struct acm_getssid g;
    struct acm_stats s;
    uint32_t dec, len;
    long want = may_read ? 0 : -XEN_EPERM;
    expect("setpolicy", acm_setpolicy(buf, sizeof(buf), ACM_MODE_REFUSE, NULL, 0, &sp), -XEN_EPERM);
    expect("relabel", acm_relabel(o, BLOB_MAC_TEST_SSID_RED, NULL), -XEN_EPERM);
    expect("getpolicy", acm_getpolicy(buf, sizeof(buf), &len), want);
    expect("getssid-domain", acm_getssid_domain(o, &g), want);
    expect("getssid-ssidref", acm_getssid_ssidref(BLOB_MAC_TEST_SSID_RED, &g), want);
    expect("getdecision", acm_getdecision(BLOB_MAC_TEST_SSID_RED, BLOB_MAC_TEST_SSID_BLUE, ACM_HOOK_EVTCHN_BIND, &dec), want);
    expect("dumpstats", acm_dumpstats(&s), want);
    /* One's own label needs no permission. */
    expect("getssid-self", acm_getssid_domain(DOMID_SELF, &g), 0);
    xtf_check_eq(g.ssidref, start_info->ssidref);
    expect("getssid-own-id", acm_getssid_domain(start_info->domid, &g), 0);
    xtf_check_eq(g.ssidref, start_info->ssidref);
    /* A wrong interface version is refused before the permission is even looked at. */
    struct acm_op op;
    memset(&op, 0, sizeof(op));
    op.interface_version = ACM_INTERFACE_VERSION - 1;
    expect("setpolicy-bad-version", acm_op(&op, ACMOP_setpolicy), -XEN_EINVAL);
}

void peer_noperm(void)
{
    domid_t o = other();
    printf("perm: noperm as domain %u ssidref %#x, other %u\n", start_info->domid, start_info->ssidref, o);
    expect("create", create(BLOB_MAC_TEST_SSID_RED, "mode=exit"), -XEN_EPERM);
    domctls(o, false);
    struct evtchn_bind_virq v = { .virq = VIRQ_DOM_EXC, .vcpu = 0 };
    expect("bind-virq-dom-exc", evtchn(EVTCHNOP_bind_virq, &v), -XEN_EPERM);
    struct evtchn_status st = { .dom = o, .port = 1 };
    expect("evtchn-status", evtchn(EVTCHNOP_status, &st), -XEN_EPERM);
    struct evtchn_alloc_unbound a = { .dom = o, .remote_dom = DOMID_SELF };
    expect("evtchn-alloc-foreign", evtchn(EVTCHNOP_alloc_unbound, &a), -XEN_EPERM);
    struct evtchn_reset r = { .dom = o };
    expect("evtchn-reset", evtchn(EVTCHNOP_reset, &r), -XEN_EPERM);
    policy_ops(o, false);
    if (xtf_result() <= XTF_SUCCESS)
        xtf_success(NULL);
}

void peer_reader(void)
{
    domid_t o = other();
    printf("perm: reader as domain %u ssidref %#x, other %u\n", start_info->domid, start_info->ssidref, o);
    expect("create", create(BLOB_MAC_TEST_SSID_RED, "mode=exit"), -XEN_EPERM);
    domctls(o, true);
    struct evtchn_status st = { .dom = o, .port = 1 };
    expect("evtchn-status", evtchn(EVTCHNOP_status, &st), 0);
    struct evtchn_reset r = { .dom = o };
    expect("evtchn-reset", evtchn(EVTCHNOP_reset, &r), -XEN_EPERM);
    policy_ops(o, true);
    if (xtf_result() <= XTF_SUCCESS)
        xtf_success(NULL);
}

void peer_limited(void)
{
    printf("perm: limited as domain %u ssidref %#x\n", start_info->domid, start_info->ssidref);
    /* Its permissions name red only: that child starts (and powers off by itself). */
    expect("create-red", create(BLOB_MAC_TEST_SSID_RED, "mode=exit"), 0);
    expect("create-blue", create(BLOB_MAC_TEST_SSID_BLUE, "mode=exit"), -XEN_EPERM);
    expect("create-system", create(BLOB_MAC_TEST_SSID_SYSTEM, "mode=exit"), -XEN_EPERM);
    expect("create-limited", create(BLOB_MAC_TEST_SSID_LIMITED, "mode=exit"), -XEN_EPERM);
    if (xtf_result() <= XTF_SUCCESS)
        xtf_success(NULL);
}
