# SPDX-License-Identifier: MIT
"""Revocation cost under icount (instructions): a policy load that forbids N live grant mappings
or channels, N = 1, 10, 100, 1000, in both modes, grows linearly in N; a cached bind is cheaper
than a miss. The figures are printed as `bench:` lines (docs/benchmarks.md)."""

from __future__ import annotations

import re

from moat.pytest_plugin import assert_xtf
from tests.domains import domlog
from tests.domains.conftest import scenario_path

from . import maclog

BENCH = re.compile(r"^bench: (\w+) min=(\d+) median=(\d+) max=(\d+) n=(\d+) unit=instructions$")


def test_revocation_cost_is_linear(boot):
    result = boot(scenario_file=scenario_path("mac_scale"), icount=True, timeout=300)
    log = domlog.parse(result.console)
    ctl = log.named("ctl")
    assert not maclog.guest_fails(ctl.lines), "\n".join(maclog.guest_fails(ctl.lines))
    assert_xtf(result)
    fig = {m.group(1): int(m.group(3)) for line in ctl.lines if (m := BENCH.match(line))}
    print("\n".join(f"{k} = {v}" for k, v in fig.items()))
    for kind in ("grants", "evtchn"):
        for mode in ("refuse", "revoke"):
            c = [fig[f"mac_load_{mode}_{kind}_{n}"] for n in (1, 10, 100, 1000)]
            assert c[0] < c[1] < c[2] < c[3], (kind, mode, c)
            # Linear: the cost of each further item from 100 to 1000 is within 2x of 10 to 100.
            per_hi, per_lo = (c[3] - c[2]) / 900, (c[2] - c[1]) / 90
            assert 0.5 < per_hi / per_lo < 2, (kind, mode, per_lo, per_hi)
    assert fig["mac_bind_hit"] < fig["mac_bind_miss"]
