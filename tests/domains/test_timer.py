# SPDX-License-Identifier: MIT
"""Timer wake-ups: set_timer_op + SCHEDOP_block sleeps until (not before, not much after) the
deadline, for two domains at once while a third keeps the CPU busy."""

from __future__ import annotations

import re

import pytest

from moat.pytest_plugin import Booter, assert_xtf, log_tail

from . import domlog
from .conftest import scenario_path

SLEPT = re.compile(r"^slept (\d+) us \(asked (\d+) us\)$")


def test_timer_wakeups(run_scenario):
    result = run_scenario("timer")
    assert_xtf(result)
    log = domlog.parse(result.console)
    for name in ("timer-0", "timer-1"):
        dom = log.named(name)
        assert dom.result == "SUCCESS", f"{name}:\n" + "\n".join(dom.lines)
        sleeps = [(int(m.group(1)), int(m.group(2))) for line in dom.lines if (m := SLEPT.match(line))]
        assert [asked for _, asked in sleeps] == [10000, 20000, 30000, 40000, 50000], dom.lines
        assert all(asked <= slept for slept, asked in sleeps), sleeps
        # set_timer_op's own event (do_set_timer_op, hv/core/sched.c): raised before it returns for a
        # passed deadline only, and once (checked by the guest; its Fail: lines fail it above)
        assert "timer: a cancel and a far deadline raise nothing, a past one fires once at once" in dom.lines, dom.lines
        # and the tick's (timer_fire): a timer fires once, a poll's timeout raises no timer event
        assert "timer: a tick's timer fires once, a poll's timeout raises no timer event" in dom.lines, dom.lines
    # The sleepers woke while the busy domain was still running: their lines sit among its ticks.
    busy = log.named("busy")
    assert busy.result == "SUCCESS"
    ticks = [i for i, (dom, text) in enumerate(log.order) if dom is busy and text.startswith("tick ")]
    woke = [i for i, (dom, text) in enumerate(log.order) if dom is not busy and text.startswith("slept")]
    assert any(ticks[0] < i < ticks[-1] for i in woke), log_tail(result, 60)


LATE = re.compile(r"^at (\d+) ms by (timer|poll): woke (\d+) us late$")


def test_the_next_timer_is_the_earliest_whatever_its_place_in_the_list(boot: Booter) -> None:
    """tests/scenarios/timer_order.toml under -icount: five domains on one CPU wait for 200, 220 and
    300 ms of system time by timers and poll timeouts. When the first fires, the tick's walk of the
    timer list (timers_due, hv/core/sched.c) must keep the earliest deadline left as the CPU's next
    (220 ms), whatever its place in the list: a walk that kept the last one it looked at (300 ms)
    woke the 220 ms domains 80 ms late. Each must wake within a few ticks (1 ms each) of its
    deadline, never before."""
    result = boot(scenario_file=scenario_path("timer_order"), icount=True)
    assert_xtf(result)
    log = domlog.parse(result.console)
    late = {}
    for name, at, how in (("far-timer", 300, "timer"), ("far-poll", 300, "poll"), ("near-timer", 220, "timer"),
                          ("near-poll", 220, "poll"), ("trigger", 200, "timer")):
        dom = log.named(name)
        assert dom.result == "SUCCESS", f"{name}:\n" + "\n".join(dom.lines)
        [m] = [m for line in dom.lines if (m := LATE.match(line))]
        assert (int(m[1]), m[2]) == (at, how), dom.lines
        late[name] = int(m[3])
    assert all(us < 5000 for us in late.values()), late


@pytest.mark.parametrize("sched", ["", "sched=partition"], ids=["default", "partition"])
def test_a_down_vcpus_timer_waits_until_it_is_up(boot: Booter, sched: str) -> None:
    """tests/scenarios/timer_down.toml under -icount: vCPU 1 arms its timer and goes down; 30 ms past
    the deadline its VIRQ_TIMER must still not be pending (the guest checks). Under sched=partition
    the tick looks at every vCPU of the running partition (timers_partitioned, hv/core/sched.c),
    and must skip a down one."""
    result = boot(scenario_file=scenario_path("timer_down"), cmdline=sched, icount=True)
    assert_xtf(result)
    dom = domlog.parse(result.console).named("downtimer")
    assert dom.result == "SUCCESS", "\n".join(dom.lines)
    assert "timer: a down vCPU's timer raises nothing while it is down" in dom.lines, dom.lines


@pytest.mark.parametrize("sched", ["", "sched=partition"], ids=["default", "partition"])
def test_a_finished_poll_leaves_no_poller(boot: Booter, sched: str) -> None:
    """tests/scenarios/timer_poller.toml under -icount: vCPU 0 polls its masked VIRQ_TIMER port until
    its timer fires, then blocks; its timer fires again 5 ms on (the port still masked) and vCPU 1
    sends on an unmasked IPI port of vCPU 0 30 ms on. Only a poller wakes on a masked port's event
    (the domain's poll_mask, hv/core/sched.c stop_polling): the block must last until the send."""
    result = boot(scenario_file=scenario_path("timer_poller"), cmdline=sched, icount=True)
    assert_xtf(result)
    dom = domlog.parse(result.console).named("poller")
    assert dom.result == "SUCCESS", "\n".join(dom.lines)
    expected = "timer: a finished poll leaves no poller: a block slept through a masked port's event"
    assert expected in dom.lines, dom.lines
