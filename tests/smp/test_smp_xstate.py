# SPDX-License-Identifier: MIT
"""A vCPU's extended state (FPU, SSE, AVX) follows it from CPU to CPU (docs/hypervisor.md, "Full
CPU state"): the CPU that takes a vCPU has the one that last ran it save its registers first (an
IPI), and waits for that however long the host leaves that CPU unscheduled (it used to give up
after five seconds and stop the machine). Runs without -icount: the four virtual CPUs run in
parallel on the host, so the hand-offs happen in many interleavings."""

from __future__ import annotations

import re

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


def test_vector_registers_follow_vcpus_from_cpu_to_cpu(boot: Booter) -> None:
    # Its second run is the stalled hand-off's boot below: the same roamers, checked the same way.
    result = boot(scenario_file=scenario_path("xstate_roam"), selftest=True, timeout=300)
    assert "cpus: 4 online" in result.lines
    # At least 16 hand-offs through another CPU's IPI (the first count line), all of them intact.
    assert check_roamers(result) >= 16, log_tail(result)


def test_a_cpu_the_host_does_not_run_delays_the_hand_off_and_nothing_more(boot: Booter) -> None:
    # The first CPU asked to give up a vCPU's registers keeps them with interrupts off, as a
    # virtual CPU the host leaves unscheduled does, past smp_call's patience: where the old code
    # gave up (its deadline, CALL_WAIT_MS, was the same 5 s) and the new CPU stopped the machine
    # ("cpu N did not give up domain D's extended state"). Now it waits, says so, sends the IPI
    # again at each patience's end, and the vCPU runs on with its own registers. In this boot the
    # patience is 200 ms (`smp_call_ms=`, selftest build: it stands for both 5 s) and the stall
    # 500 ms, two and a half of them: a stall of 5.5 s cost as many seconds of a host core at the
    # least, spinning. The boot is the roaming test's second run as well (a thread per CPU, 200
    # rounds, every register checked, at least 16 hand-offs): in one host thread, as with the
    # 5.5 s stall, a quiet host sometimes saw fewer than 16 hand-offs after a short stall.
    result = boot("smp_call_ms=200 xsave_stall_ms=500", scenario_file=scenario_path("xstate_roam"), selftest=True,
                  timeout=300)
    assert "cpus: 4 online" in result.lines
    assert "selftest: smp_call_ms: a call unanswered for 200 ms is reported, a broadcast's CPU counted out" \
        in result.lines, log_tail(result)
    assert "did not give up" not in result.console, log_tail(result)
    stall = STALL.search(result.console)
    assert stall and stall.group(3) == "500", log_tail(result)
    # The stalled CPU's report and answer, the first after the stall began (a host that leaves a
    # CPU's thread unscheduled for 200 ms can have another call reported too: no harm).
    cpu = stall.group(1)
    waited = next((m for m in WAITED.finditer(result.console, stall.end()) if m.group(1) == cpu), None)
    answered = next((m for m in ANSWERED.finditer(result.console, stall.end()) if m.group(1) == cpu), None)
    assert waited and answered and waited.start() < answered.start(), log_tail(result)
    assert int(waited.group(2)) >= 200 and int(answered.group(2)) >= 500
    assert check_roamers(result) >= 16, log_tail(result)
