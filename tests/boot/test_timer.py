# SPDX-License-Identifier: MIT
"""The LAPIC timer: calibrated, and its ticks advance at the right rate (TCG and icount)."""

from __future__ import annotations

import pytest

from moat.pytest_plugin import assert_xtf

from .console import TIMER, one


@pytest.mark.parametrize("icount", [False, True], ids=["tcg", "icount"])
def test_timer_selftest(boot, icount):
    result = boot("selftest=timer", selftest=True, icount=icount)
    assert_xtf(result, "SUCCESS")
    hz, bus_khz, tsc_khz = map(int, one(result.console, TIMER).groups())
    assert hz > 0 and bus_khz > 0 and tsc_khz > 0
