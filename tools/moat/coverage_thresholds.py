# SPDX-License-Identifier: MIT
"""The checked-in floors of the coverage and mutation figures (tests/quality/thresholds.toml).

A whole-suite `moat coverage` or `moat mutate` run keeps its JSON as build/coverage/last-full.json
or build/mutate/last-full.json; tests/quality/test_thresholds.py compares them with the floors,
and `--update-threshold` raises a floor to what was measured (never lowers one).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

FILE = Path("tests") / "quality" / "thresholds.toml"
KEYS = {
    "coverage": ("hv_lines_percent", "hv_branches_percent", "tools_lines_percent"),
    "mutation": ("kill_rate_percent",),
}
HEADER = """# SPDX-License-Identifier: MIT
# Floors for the whole-suite figures of `moat coverage` and `moat mutate` (docs/coverage.md).
# tests/quality/test_thresholds.py fails when the last whole run is below one; a run with
# --update-threshold raises them to what it measured. Never lower one to make a test pass.
"""

Figures = dict[str, float]


def path(root: Path) -> Path:
    return root / FILE


def load(root: Path) -> Figures:
    with path(root).open("rb") as f:
        data = tomllib.load(f)
    out: Figures = {}
    for table, keys in KEYS.items():
        for key in keys:
            value = data.get(table, {}).get(key)
            if isinstance(value, int | float):
                out[f"{table}.{key}"] = float(value)
    return out


def from_coverage(data: dict[str, Any]) -> Figures:
    out: Figures = {}
    hv = data.get("hv") or {}
    tools = data.get("tools") or {}
    if hv.get("lines_percent") is not None:
        out["coverage.hv_lines_percent"] = float(hv["lines_percent"])
        out["coverage.hv_branches_percent"] = float(hv["branches_percent"])
    if tools.get("lines_percent") is not None:
        out["coverage.tools_lines_percent"] = float(tools["lines_percent"])
    return out


def from_mutation(data: dict[str, Any]) -> Figures:
    rate = data.get("kill_rate_percent")
    return {"mutation.kill_rate_percent": float(rate)} if rate is not None else {}


def compare(floors: Figures, measured: Figures) -> list[str]:
    """One line per figure below its floor."""
    return [f"{key} = {measured[key]:.2f} is below its threshold {floors[key]:.2f}"
            for key in sorted(measured) if key in floors and measured[key] < floors[key]]


def save(root: Path, floors: Figures) -> None:
    text = HEADER
    for table, keys in KEYS.items():
        text += f"\n[{table}]\n"
        for key in keys:
            text += f"{key} = {floors.get(f'{table}.{key}', 0.0):.1f}\n"
    path(root).write_text(text, encoding="utf-8")


# Coverage moves a little from run to run (which scheduler paths a boot takes depends on timing):
# a floor raised from a coverage run sits this many points below what it measured.
COVERAGE_MARGIN = 0.3


def raise_to(root: Path, measured: Figures, margin: float = 0.0) -> list[str]:
    """Raise each floor to the measured figure less margin (rounded down to 0.1); never lower
    one. Returns lines saying what changed."""
    floors = load(root)
    changed = []
    for key, value in measured.items():
        new = math.floor((value - margin) * 10) / 10
        if new > floors.get(key, 0.0):
            changed.append(f"threshold {key}: {floors.get(key, 0.0):.1f} -> {new:.1f}")
            floors[key] = new
    if changed:
        save(root, floors)
    return changed or ["thresholds unchanged (none below this run's figures)"]
