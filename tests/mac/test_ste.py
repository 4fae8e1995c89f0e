# SPDX-License-Identifier: MIT
"""STE at bind, map, copy and foreign setup, and the decision cache (shype-acm.md items 1-10).
The checks themselves run in the controller (images/tests/mac_ctl/ste.c); here: its verdict,
that every step ran, and the audit lines the hypervisor printed for the denials."""

from __future__ import annotations

from moat.pytest_plugin import assert_xtf
from tests.domains import domlog

from . import maclog

STEPS = [
    "ste: alloc_unbound decides on the port owner",
    "ste: bind_interdomain denied, nothing bound",
    "ste: shared type: alloc_unbound and bind_interdomain allowed",
    "ste: second bind of a permitted pair is a cache hit",
    "ste: denials are not cached",
    "ste: a full cache still decides a ninth peer correctly",
    "ste: a reused domid inherits no cached decision",
    "ste: relabel purged the caches and revoked 3 channels",
    "ste: a policy load purged the caches",
    "ste: all eight cache slots hold a decision, and a relabel purges the first slot too",
    "ste: grant map, copy and foreign setup/query denied between disjoint labels",
]
SYSTEM, RED, BLUE, GREEN = 0x00010001, 0x00090009, 0x00040004, 0x00060006


def test_ste_and_cache(run_scenario):
    result = run_scenario("mac_ste", timeout=180)
    log = domlog.parse(result.console)
    ctl = log.named("ctl")
    assert not maclog.guest_fails(ctl.lines), "\n".join(maclog.guest_fails(ctl.lines))
    assert_xtf(result)
    for step in STEPS:
        assert step in ctl.lines, step
    red, blue = log.all_named("red-1")[0].domid, log.all_named("blue-1")[0].domid
    deny = maclog.denials(result.console)
    # alloc_unbound names the port owner as the subject, not the caller (domain 0).
    assert maclog.Deny("evtchn_unbound", f"{blue}:blue-1", f"{red}:red-1", None, BLUE, RED) in deny
    assert maclog.Deny("evtchn_bind", "0:ctl", f"{blue}:blue-1", None, SYSTEM, BLUE) in deny
    grant_blue = log.all_named("grant-blue")[0].domid
    for hook in ("grant_map", "grant_copy", "grant_setup"):
        assert maclog.Deny(hook, "0:ctl", f"{grant_blue}:grant-blue", None, SYSTEM, BLUE) in deny, hook
    # The query of grant-blue's table and the foreign setup of it are both ctl's acts: ctl is the
    # subject of both denials (the hook's two domains swapped would name grant-blue).
    setup = [d for d in deny if d.hook == "grant_setup" and f"{grant_blue}:grant-blue" in (d.subj, d.obj)]
    assert setup == [maclog.Deny("grant_setup", "0:ctl", f"{grant_blue}:grant-blue", None, SYSTEM, BLUE)] * 2, setup
    # Under the boot policy nothing was denied between domains that share a type.
    boot_policy = result.console.split("mac: policy 'mac-test' version 1.1 loaded")[0]
    assert not [d for d in maclog.denials(boot_policy)
                if {d.subj_ssid, d.obj_ssid} in ({SYSTEM, RED}, {SYSTEM, GREEN}, {RED, GREEN})]
    assert "relabelled 0x00090009 -> 0x00040004: revoked 3 event channels, 0 grant mappings" in result.console
