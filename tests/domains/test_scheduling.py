# SPDX-License-Identifier: MIT
"""Several domains share the CPU: cooperative (yield) and preemptive (LAPIC timer) interleaving,
32 domains at once, a domain spinning forever that cannot keep the others from finishing, and the
scenario's slice_ms as the time a domain that never yields runs at a stretch."""

from __future__ import annotations

import pytest

from moat.pytest_plugin import Booter, assert_xtf, log_tail

from . import domlog
from .conftest import GUEST_TIMEOUT, scenario_path


def _all_ticked(log: domlog.Log, names: list[str], ticks: int) -> None:
    for name in names:
        dom = log.named(name)
        got = [line for line in dom.lines if line.startswith("tick ")]
        assert got == [f"tick {i}" for i in range(ticks)], f"{name}: {got}"
        assert dom.result == "SUCCESS" and dom.outcome == "poweroff", (name, dom.result, dom.outcome)


def test_hello(run_scenario):
    result = run_scenario("hello")
    assert_xtf(result)
    log = domlog.parse(result.console)
    dom = log.named("hello")
    assert dom.lines[0] == "hello from domain 0 'hello', 256 pages, cmdline 'greeting=hello'", log_tail(result)
    assert (log.as_expected, log.not_expected) == (1, 0)
    assert log.frames_boot and log.frames_stop and log.frames_boot[1] == log.frames_stop[1]


@pytest.mark.parametrize("cpu", ["default", "qemu64"])
def test_two_domains_interleave_by_yielding(boot, cpu):
    """qemu64: a CPU without XSAVE, where the extended state is switched by FXSAVE/FXRSTOR and the
    frameless plain switch (which restores with an inline XRSTOR) must stay off: taking it there
    would fault in the hypervisor at the first yield."""
    result = boot(scenario_file=scenario_path("interleave2"), timeout=GUEST_TIMEOUT,
                  extra_args=["-cpu", "qemu64"] if cpu == "qemu64" else [])
    assert_xtf(result)
    log = domlog.parse(result.console)
    _all_ticked(log, ["ticker-0", "ticker-1"], 20)
    # Each yields after every line: with round robin the two alternate nearly line by line.
    assert domlog.switches(log) >= 20, log_tail(result, 50)


def test_32_domains_all_run_and_finish(run_scenario):
    result = run_scenario("interleave32")
    assert_xtf(result)
    log = domlog.parse(result.console)
    names = [f"ticker-{i}" for i in range(32)]
    _all_ticked(log, names, 5)
    assert (log.as_expected, log.not_expected) == (32, 0)
    # Round robin: every domain has printed its first line before any prints its last one.
    firsts = [i for i, (_, text) in enumerate(log.order) if text == "tick 0"]
    lasts = [i for i, (_, text) in enumerate(log.order) if text == "tick 4"]
    assert max(firsts) < min(lasts), "some domain finished before another one started"


def test_busy_domains_interleave_by_preemption(run_scenario):
    # Neither domain ever yields; only the 1 ms timer slice can interleave their lines.
    result = run_scenario("interleave_busy")
    assert_xtf(result)
    log = domlog.parse(result.console)
    _all_ticked(log, ["busy-0", "busy-1"], 8)
    assert domlog.switches(log) >= 4, log_tail(result, 40)


def test_spinner_does_not_stop_the_others(run_scenario):
    # If preemption broke, the controller would never wake from its timer sleeps and QEMU would
    # time out; the controller also checks CPU time accounting and pause/unpause.
    result = run_scenario("preempt")
    assert_xtf(result)
    log = domlog.parse(result.console)
    controller, spinner, worker = log.named("controller"), log.named("spinner"), log.named("worker")
    assert controller.result == "SUCCESS" and controller.outcome == "poweroff"
    assert worker.result == "SUCCESS" and worker.outcome == "poweroff"
    assert spinner.outcome == "killed" and spinner.reason and "domctl" in spinner.reason
    assert [line for line in controller.lines if line.startswith("controller woke")] == [
        f"controller woke {i}" for i in range(5)]
    assert (log.as_expected, log.not_expected) == (3, 0)


def test_a_yield_alone_leaves_no_switch_pending(boot):
    """tests/scenarios/yield_alone.toml, under -icount: the controller yields with nobody else
    queued (it goes on), then unpauses a spinner, which is queued without asking for a switch. The
    controller's unpause and getinfo must come back within its slice: a switch left pending by the
    lone yield would hand the CPU to the spinner at the first hypercall's way out (5 ms)."""
    result = boot(scenario_file=scenario_path("yield_alone"), icount=True, timeout=GUEST_TIMEOUT)
    assert_xtf(result)
    line = next((x for x in result.lines if "after a yield alone:" in x), None)
    assert line is not None, log_tail(result)
    assert int(line.rsplit(" ", 2)[1]) < 1000, line


@pytest.mark.parametrize(("name", "ticks"), [("slice_1ms", 1), ("slice_3ms", 3)])
def test_a_domain_runs_its_configured_slice_at_a_stretch(boot: Booter, name: str, ticks: int) -> None:
    """tests/scenarios/slice_1ms.toml and slice_3ms.toml, under -icount: a measurer and a spinner,
    neither ever yielding, share one CPU, so each runs until its slice is over. The measurer's
    runs between two stretches of the spinner's (images/tests/slice_runs) must last the scenario's
    slice_ms, one tick a millisecond (measured: 999 and 2999 us, the switch's microsecond short).
    A slice a tick short or long (sched_init dividing slice_us by a little more than a million,
    or giving at least two ticks) is 1000 us off, far outside the 20 us allowed."""
    result = boot(scenario_file=scenario_path(name), icount=True, timeout=GUEST_TIMEOUT)
    assert_xtf(result)
    line = next((x for x in result.lines if "slice runs:" in x), None)
    assert line is not None, log_tail(result)
    runs = [int(x) for x in line.split("slice runs:", 1)[1].split()]
    assert len(runs) == 8, line
    assert all(abs(run - 1000 * ticks) <= 20 for run in runs), line
