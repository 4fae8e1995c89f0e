# SPDX-License-Identifier: MIT
"""Frame accounting: what the frame allocator counts agrees with the memory map."""

from __future__ import annotations

import pytest

from moat.pytest_plugin import assert_status, assert_xtf

from .console import FRAMES, memory_map, one, whole_available_frames


@pytest.mark.parametrize("memory", ["128M", "256M"])
def test_frames_add_up_to_the_memory_map(boot, memory):
    result = boot(memory=memory)
    assert_status(result, "SUCCESS")
    ranges = memory_map(result.console)
    assert ranges, "no 'mem [...)' lines"
    assert any(kind == "available" for _, _, kind in ranges)
    for start, end, _ in ranges:
        assert start < end
    total, free, used, reserved = map(int, one(result.console, FRAMES).groups())
    assert total == whole_available_frames(ranges)
    assert free + used + reserved == total
    assert free > 0 and reserved > 0
    mib = int(memory[:-1])
    available = sum(end - start for start, end, kind in ranges if kind == "available")
    assert (mib - 2) << 20 <= available <= mib << 20


def test_memory_selftest(boot):
    result = boot("selftest=memory", selftest=True)
    assert_xtf(result, "SUCCESS")
    # The frame audit's planted disagreement (one free frame marked in use), and only that one:
    assert result.console.count("frames: audit failed: the table has") == 1, result.console
