# SPDX-License-Identifier: MIT
"""Policy operations (shype-acm.md items 16-21, 23-25): the controller's checks
(images/tests/mac_ctl/policy.c) and what only the console shows: both ends of a revoked channel
noticed, a revoked mapping faults when touched."""

from __future__ import annotations

import re

from moat.pytest_plugin import assert_xtf
from tests.domains import domlog

from . import maclog


def test_policy_operations(run_scenario):
    result = run_scenario("mac_policy", timeout=180)
    log = domlog.parse(result.console)
    ctl = log.named("ctl")
    assert not maclog.guest_fails(ctl.lines), "\n".join(maclog.guest_fails(ctl.lines))
    assert_xtf(result)
    assert "policy: getssid by domid and ssidref" in ctl.lines
    assert "policy: 23 malformed or wrongly typed blobs refused, old policy still enforced" in ctl.lines
    assert "policy: chinese-wall conflicts and deleted ssidrefs refused in both modes" in ctl.lines
    assert "policy: revoke: 1 channels, 2 grant mappings" in ctl.lines
    # A policy past setpolicy's and getpolicy's 1 MiB copy steps, whole both ways.
    big = [int(m.group(1)) for line in ctl.lines
           if (m := re.fullmatch(r"policy: a policy of (\d+) bytes loaded, read back whole and replaced", line))]
    assert len(big) == 1 and big[0] > (1 << 20) + 4096, big
    assert "policy: refuse: the violation buffer's size respected" in ctl.lines
    # Each load frees the blob it replaces: after its loads (the large one among them) the
    # hypervisor holds at the end only the live blob's page and the policy slots' page tables
    # (a directory and one table per slot used: 4 frames more than at boot, all domains gone).
    # A load that left the replaced blob mapped would hold its pages to the end.
    assert log.frames_boot and log.frames_stop
    assert log.frames_stop[2] - log.frames_boot[2] == 4, (log.frames_boot, log.frames_stop)
    refused = [line for line in ctl.lines if line.startswith("policy: refuse: violation (")]
    assert sorted(refused) == sorted(["policy: refuse: violation (0x100, 0x00000001)",
                                      "policy: refuse: violation (0x101, 0x00000002)",
                                      "policy: refuse: violation (0x101, 0x00030000)"])
    # The hypervisor says what each load did.
    assert result.console.count("mac: policy 'mac-test' version 1.1 loaded (revoke mode): revoked 1 event "
                                "channels, 2 grant mappings") == 1
    assert "MAC revoke evtchn 0:ctl port 1 <-> 1:watch-red" in result.console
    assert "MAC revoke grant 0:ctl handle 0 of 2:grant-red" in result.console
    assert re.search(r"^MAC revoke grant 3:toucher handle \d+ of 0:ctl$", result.console, re.M)
    # The other end of the channel noticed: unbound to no one (0x7ff4), pending.
    watcher = log.named("watch-red")
    revoked = [line for line in watcher.lines if line.startswith("revoked:")]
    assert len(revoked) == 1 and re.fullmatch(r"revoked: port \d+ status 1 remote 0x7ff4 pending 1", revoked[0])
    assert watcher.result == "SUCCESS" and watcher.outcome == "poweroff"
    # The mapper whose grant was revoked faults on its next read of the page.
    toucher = log.named("toucher")
    assert toucher.crash is not None, "the toucher did not fault"
    assert toucher.crash.vector == 14 and toucher.crash.cr2 == 0x8000000000
    assert toucher.outcome == "killed"
