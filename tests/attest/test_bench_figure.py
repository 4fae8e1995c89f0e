# SPDX-License-Identifier: MIT
"""The measured launch's figure in `moat bench`: boot_hash_per_kib, from the `measure: boot:` line."""

from __future__ import annotations

from moat import bench


def test_boot_hash_per_kib_from_the_measure_line() -> None:
    lines = ["boot: tsc entry=100 banner=150",
             "measure: boot: 12 events extended into PCRs 20-21, 2048 bytes hashed in 90000 tsc"]
    figs = {f.name: f for f in bench.boot_figures(lines)}
    assert figs["boot_hash_per_kib"] == bench.Figure("boot_hash_per_kib", 45000, 45000, 45000, 1, "instructions")
    assert figs["boot_to_banner"].median == 50
    got, errors = bench.parse_console(lines, declared=["boot_hash_per_kib"])
    assert [f.name for f in got] == ["boot_hash_per_kib"] and errors == []


def test_the_line_without_a_tpm_counts_too() -> None:
    lines = ["measure: boot: 7 events logged, not extended, 1024 bytes hashed in 60000 tsc"]
    assert [f.median for f in bench.boot_figures(lines)] == [60000]
    assert bench.boot_figures(["measure: boot: 0 events logged, not extended, 0 bytes hashed in 0 tsc"]) == []
