# SPDX-License-Identifier: MIT
"""docs/ stands alone and says what the code does: no pointers outside the repository, and the
benchmark figures table is generated from a `moat bench --json` run, never copied by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

from moat import bench

ROOT = Path(__file__).resolve().parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def test_docs_do_not_point_outside_the_repository():
    bad = []
    for doc in DOCS:
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"/work/|(?<![\w-])shared/(?!info)|DESIGN\.md", line):
                bad.append(f"{doc.relative_to(ROOT)}:{n}: {line.strip()}")
    assert bad == []


def test_docs_name_files_that_exist():
    """Every `docs/*.md` a doc names is there (design.md, benchmarks.md, ...)."""
    missing = []
    for doc in DOCS:
        for name in re.findall(r"docs/([a-z-]+\.md)", doc.read_text(encoding="utf-8")):
            if not (ROOT / "docs" / name).is_file():
                missing.append(f"{doc.relative_to(ROOT)} names docs/{name}")
    assert missing == []


def test_benchmark_table_is_generated_from_the_recorded_run():
    data = json.loads((ROOT / "docs" / "benchmarks.json").read_text(encoding="utf-8"))
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert bench.update_doc(text, data) == text, "regenerate it: ./moat bench --docs docs/benchmarks.json"


def test_the_recorded_run_has_every_declared_figure():
    data = json.loads((ROOT / "docs" / "benchmarks.json").read_text(encoding="utf-8"))
    recorded = {(s["name"], f["name"]) for s in data["scenarios"] for f in s["figures"]}
    for path in bench.find_scenarios(ROOT):
        for name in bench.declared_figures(path):
            assert (path.stem, name) in recorded, f"{path.stem}: {name} is not in docs/benchmarks.json"
    from moat import hostbench

    assert {("policy_compile", name) for name in hostbench.FIGURES} <= recorded


def test_the_generated_table_gives_each_goal_and_floor_and_whether_it_is_met():
    unit = "instructions"
    data = {"scenarios": [{"name": "switch", "figures": [{"name": "domain_switch", "median": 217, "unit": unit},
                                                          {"name": "x", "median": 3, "unit": unit}]},
                          {"name": "evtchn_send", "figures": [{"name": "evtchn_send", "median": 150, "unit": unit}]}]}
    assert bench.figures_markdown(data, bench.GOALS).splitlines() == [
        "| scenario | figure | median | unit | goal | floor |", "|---|---|---:|---|---:|---:|",
        "| evtchn_send | evtchn_send | 150 | instructions | 150 met | |",
        "| switch | domain_switch | 217 | instructions | 140 missed | 62 |",
        "| switch | x | 3 | instructions | | |"]


def test_update_doc_replaces_only_the_table():
    data = {"scenarios": [{"name": "b", "figures": [{"name": "x", "median": 1234567, "unit": "instructions"},
                                                     {"name": "timer_overhead", "median": 5, "unit": "instructions"}]},
                          {"name": "a", "figures": [{"name": "t_s", "median": 0.25, "unit": "s"}]}]}
    text = f"intro\n{bench.DOC_BEGIN}\nold\n{bench.DOC_END}\noutro\n"
    assert bench.update_doc(text, data) == (
        f"intro\n{bench.DOC_BEGIN}\n| scenario | figure | median | unit |\n|---|---|---:|---|\n"
        f"| a | t_s | 0.250 | s |\n| b | x | 1 234 567 | instructions |\n{bench.DOC_END}\noutro\n")
