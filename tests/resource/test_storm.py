# SPDX-License-Identifier: MIT
"""Denial of service by storm (issue 14 part 4), under -icount: a domain that makes hypercalls or
sends itself events all the time leaves another pair's event ping-pong within twice its quiet
round trip. What keeps it so is the scheduler's wake-up preference within a fair share: a woken
domain under its share runs as soon as the stormer's turn ends; without it a round trip waits out
the stormer's whole slice (10 ms, millions of instructions) and the assertion fails."""

from __future__ import annotations

import pytest

from moat import bench
from moat.pytest_plugin import Booter, assert_xtf
from tests.domains.conftest import scenario_path


def median_round_trip(boot: Booter, name: str) -> int:
    result = boot(scenario_file=scenario_path(name), icount=True, timeout=240)
    assert_xtf(result)
    figures = [f for f in (bench.parse_line(line) for line in result.lines) if f is not None]
    (fig,) = [f for f in figures if f.name.startswith("evtchn_ping_pong_")]
    return int(fig.median)


@pytest.mark.parametrize("kind", ["hypercall", "event"])
def test_storm_leaves_ping_pong_within_twice_quiet(boot: Booter, kind: str) -> None:
    quiet = median_round_trip(boot, "pingpong_quiet")
    stormy = median_round_trip(boot, f"pingpong_storm_{kind}")
    assert quiet > 0 and stormy <= 2 * quiet, (quiet, stormy)
