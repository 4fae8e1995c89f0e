# SPDX-License-Identifier: MIT
"""The LAPIC timer: calibrated, and its ticks advance at the right rate (TCG and icount)."""

from __future__ import annotations

import re

import pytest

from moat.pytest_plugin import assert_xtf

from .console import TIMER, one

MEASURED = re.compile(r"^timer: (\d+) ticks in (\d+) us \(expected (\d+) us\)$", re.M)


@pytest.mark.parametrize("icount", [False, True], ids=["tcg", "icount"])
def test_timer_selftest(boot, icount):
    result = boot("selftest=timer", selftest=True, icount=icount)
    assert_xtf(result, "SUCCESS")
    hz, bus_khz, tsc_khz = map(int, one(result.console, TIMER).groups())
    assert hz > 0 and bus_khz > 0 and tsc_khz > 0
    ticks, elapsed_us, expected_us = map(int, one(result.console, MEASURED).groups())
    assert ticks == 50 and expected_us == ticks * 1_000_000 // hz
    if icount:
        # Under -icount time is instructions, the same on any host however busy: the tick rate
        # must be exact. (Plain TCG follows host time, so there the self-test only bounds it.)
        assert abs(elapsed_us - expected_us) <= expected_us // 20, (elapsed_us, expected_us)
