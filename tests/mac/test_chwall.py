# SPDX-License-Identifier: MIT
"""The Chinese Wall (shype-acm.md items 11-15): at boot (a competitor of a running domain and an
out-of-range ssidref are refused, the other domains still boot) and by domctl (the controller,
images/tests/mac_ctl/chwall.c)."""

from __future__ import annotations

from moat.pytest_plugin import assert_xtf
from tests.domains import domlog

from . import maclog

ALPHA, BETA = 0x00020002, 0x00030003


def test_chinese_wall(run_scenario):
    result = run_scenario("mac_chwall", timeout=120)
    log = domlog.parse(result.console)
    ctl = log.named("ctl")
    assert not maclog.guest_fails(ctl.lines), "\n".join(maclog.guest_fails(ctl.lines))
    assert_xtf(result)
    for step in ("chwall: a competitor is refused while the other runs, and starts after",
                 "chwall: counts right after partial destroys", "chwall: unconflicted types always start",
                 "chwall: ssidrefs out of range refused", "chwall: relabel obeys the wall"):
        assert step in ctl.lines, step
    # At boot: boot-alpha runs, so boot-beta is refused; boot-oob's ssidref is beyond the policy.
    assert "domain 'boot-beta' not created: error -1" in result.console
    assert "domain 'boot-oob' not created: error -22" in result.console
    deny = maclog.denials(result.console)
    assert maclog.Deny("domain_create", "boot", "new:boot-beta", "chinese-wall", 0, BETA) in deny
    assert maclog.Deny("domain_create", "boot", "new:boot-oob", "not-a-label", 0, 0x00630063) in deny
    assert log.named("boot-alpha").result == "SUCCESS"
    walls = [d for d in deny if d.op == "chinese-wall" and d.subj == "0:ctl"]
    # beta-denied, alpha-denied, beta-wait x3
    assert [d.obj for d in walls] == ["new:beta-denied", "new:alpha-denied"] + ["new:beta-wait"] * 3 + [
        "new:alpha-denied-2"]
    relabel = log.all_named("relabel-me")[0].domid
    assert maclog.Deny("domain_create", "0:ctl", f"{relabel}:relabel-me", "relabel-chinese-wall", 0x00010001,
                       0x00090009) in deny
    relabel2 = log.all_named("relabel-me-2")[0].domid
    assert maclog.Deny("domain_create", "0:ctl", f"{relabel2}:relabel-me-2", "relabel-chinese-wall", 0x00010001,
                       0x00090009) in deny
    assert all(d.obj_ssid in (ALPHA, BETA) for d in walls)
