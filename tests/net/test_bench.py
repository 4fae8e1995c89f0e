# SPDX-License-Identifier: MIT
"""The network figures of `moat bench` (docs/benchmarks.md): both bench scenarios boot under icount
and print every figure they declare, with the relations that must hold between them."""

from __future__ import annotations

from moat import bench, paths


def figures(name: str) -> dict[str, bench.Figure]:
    root = paths.repo_root()
    result = bench.run_scenario(bench.bench_dir(root) / f"{name}.toml", root,
                                log_dir=paths.build_dir(root) / "test-logs")
    assert result.ok, (result.errors, result.log)
    return {f.name: f for f in result.figures}


def test_network_figures():
    direct, switch = figures("net_direct"), figures("net_switch")
    ping_direct = direct["net_ping_round_trip_direct"]
    ping_switch = switch["net_ping_round_trip_switch"]
    assert ping_direct.unit == ping_switch.unit == "instructions" and ping_direct.n == ping_switch.n == 200
    # Through the switch a frame crosses two links and the switch's forwarding: dearer, not free.
    assert ping_direct.median < ping_switch.median < 4 * ping_direct.median
    small, large = direct["net_udp_bytes_per_kinsn_64"], direct["net_udp_bytes_per_kinsn_1500"]
    assert small.unit == large.unit == "bytes_per_kinsn"
    assert 0 < small.median < large.median  # per-frame costs dominate small frames
