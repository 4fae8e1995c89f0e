# SPDX-License-Identifier: MIT
"""The figures of the last whole `moat coverage` and `moat mutate` runs stay at or above the
checked-in floors (tests/quality/thresholds.toml). Those runs are not part of `moat test` (they
take long): without one there is nothing to compare, and the check skips."""

from __future__ import annotations

import json

import pytest

from moat import coverage_thresholds as thresholds
from moat.paths import build_dir


@pytest.mark.parametrize(("kind", "reader"), [("coverage", thresholds.from_coverage),
                                              ("mutate", thresholds.from_mutation)])
def test_last_whole_run_meets_the_thresholds(moat_root, kind, reader):
    last = build_dir(moat_root) / kind / "last-full.json"
    if not last.is_file():
        pytest.skip(f"no whole `moat {kind}` run yet ({last} is missing)")
    measured = reader(json.loads(last.read_text(encoding="utf-8")))
    assert measured, f"{last} holds no figures"
    assert thresholds.compare(thresholds.load(moat_root), measured) == []


def test_the_thresholds_file_names_every_figure(moat_root):
    floors = thresholds.load(moat_root)
    assert set(floors) == {f"{t}.{k}" for t, keys in thresholds.KEYS.items() for k in keys}
    assert all(0.0 <= v <= 100.0 for v in floors.values())
