# SPDX-License-Identifier: MIT
"""A vCPU's extended state (FPU, SSE, AVX) follows it from CPU to CPU (docs/hypervisor.md, "Full
CPU state"): the CPU that takes a vCPU has the one that last ran it save its registers first (an
IPI), and waits for that however long the host leaves that CPU unscheduled (it used to give up
after five seconds and stop the machine). Runs without -icount: the four virtual CPUs run in
parallel on the host, so the hand-offs happen in many interleavings."""

from __future__ import annotations

import re

import pytest

from moat.pytest_plugin import Booter, assert_xtf, log_tail
from moat.qemu import BootResult
from tests.domains import domlog
from tests.domains.conftest import scenario_path

HELD = re.compile(r"^rounds=(\d+) bad=(\d+) upcalls=(\d+) in_hold=(\d+) yields=(\d+)$")
HANDOFFS = re.compile(r"^selftest: xsave: (\d+) hand-offs from another CPU$", re.MULTILINE)
STALL = re.compile(r"^selftest: xsave_stall: cpu (\d) keeps domain (\d+) vcpu 0's extended state "
                   r"(\d+) ms before giving it up$", re.MULTILINE)
WAITED = re.compile(r"^smp: cpu (\d) has not answered a call for (\d+) ms; waiting", re.MULTILINE)
ANSWERED = re.compile(r"^smp: cpu (\d) answered the call after (\d+) ms$", re.MULTILINE)
NAMES = [f"roam-{c}" for c in "abcd"]


def check_roamers(result: BootResult) -> int:
    """Every domain kept its registers through every round; the number of hand-offs seen."""
    assert_xtf(result)
    log = domlog.parse(result.console)
    for name in NAMES:
        dom = log.named(name)
        [m] = [m for line in dom.lines if (m := HELD.match(line))]
        rounds, bad, _, in_hold, yields = map(int, m.groups())
        assert (rounds, bad) == (200, 0), log_tail(result)
        assert yields == 800 and in_hold >= 50, (name, m.group(0))
    assert (log.as_expected, log.not_expected) == (4, 0), log_tail(result)
    assert log.frames_stop == log.frames_boot
    counts = [int(n) for n in HANDOFFS.findall(result.console)]
    return max(counts, default=0)


@pytest.mark.parametrize("run", range(2))
def test_vector_registers_follow_vcpus_from_cpu_to_cpu(boot: Booter, run: int) -> None:
    result = boot(scenario_file=scenario_path("xstate_roam"), selftest=True, timeout=300)
    assert "cpus: 4 online" in result.lines
    # At least 16 hand-offs through another CPU's IPI (the first count line), all of them intact.
    assert check_roamers(result) >= 16, log_tail(result)


def test_a_cpu_the_host_does_not_run_delays_the_hand_off_and_nothing_more(boot: Booter) -> None:
    # The first CPU asked to give up a vCPU's registers keeps them 5.5 s with interrupts off, as
    # a virtual CPU the host leaves unscheduled does: past the old 5 s deadline, where the new
    # CPU stopped the machine ("cpu N did not give up domain D's extended state"). Now it waits,
    # says so, and the vCPU runs on with its own registers. All CPUs run in one host thread
    # (one_thread): the stalled CPU, the waiting one and those halting for the hypervisor lock it
    # holds take turns there, each giving way at its next `pause`, where a thread each had them
    # spin side by side for the 5.5 s on as many host cores as they got. The hand-offs between
    # CPUs running at once are the test above's; here they still come (64 to 256 in four runs).
    result = boot("xsave_stall_ms=5500", scenario_file=scenario_path("xstate_roam"), selftest=True, one_thread=True,
                  timeout=300)
    assert "cpus: 4 online" in result.lines
    assert "did not give up" not in result.console, log_tail(result)
    stall = STALL.search(result.console)
    assert stall and stall.group(3) == "5500", log_tail(result)
    waited, answered = WAITED.search(result.console), ANSWERED.search(result.console)
    assert waited and answered, log_tail(result)
    assert waited.group(1) == answered.group(1) == stall.group(1)
    assert int(waited.group(2)) >= 5000 and int(answered.group(2)) >= 5500
    assert check_roamers(result) >= 16, log_tail(result)
