# SPDX-License-Identifier: MIT
"""Hypercall fuzzing: random hypercalls with hostile arguments never hurt the hypervisor or others.

tests/scenarios/hcfuzz.toml runs three fuzzer domains (images/tests/hcfuzz, different seeds)
next to an honest ticker. Every domain must finish, the hypervisor must stop on its own with
success, and the free-frame count at stop must equal the one at boot.
"""

from __future__ import annotations

import re

from moat.pytest_plugin import assert_status

FRAMES = re.compile(r"^frames(?: at stop)?: total=(\d+) free=(\d+) used=(\d+) reserved=(\d+)$", re.M)
SUMMARY = re.compile(r"hcfuzz: seed (\d+): (\d+) hypercalls, (\d+) errors \((\d+) ENOSYS\)")


def test_random_hypercalls_leave_the_system_intact(run_scenario):
    result = run_scenario("hcfuzz", timeout=240)
    assert_status(result, "SUCCESS")
    summaries = SUMMARY.findall(result.console)
    assert sorted(int(s[0]) for s in summaries) == [1, 2, 3], summaries
    assert all(int(s[1]) == 20000 for s in summaries), summaries
    assert "domain 0 'canary' stopped: poweroff" in result.console
    boot, stop = FRAMES.findall(result.console)
    assert boot[1] == stop[1], f"frames leaked: free {boot[1]} at boot, {stop[1]} at stop"
    assert "moat: all domains stopped: 4 as expected, 0 not" in result.console
