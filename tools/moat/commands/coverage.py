# SPDX-License-Identifier: MIT
"""`moat coverage [PYTEST ARGS] [--json FILE]`: run the tests and report what they ran.

hv/ (lines and branch outcomes, recorded in QEMU for every boot by moat's TCG plugin or from
QEMU's block log: moat.coverage_trace and moat.coverage_map) and the Python tools (lines,
coverage.py, in the same run). Writes build/coverage/index.html, build/coverage/coverage.json
and build/coverage/tests.json (the test map for moat mutate); --json FILE writes the JSON there
too. docs/coverage.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from moat import coverage_report, coverage_trace
from moat import coverage_thresholds as thresholds
from moat.building import run_scons
from moat.errors import UserError
from moat.paths import build_dir, repo_root
from moat.pytest_args import pytest_args

DESCRIPTION = """\
Build, run pytest (arguments you do not recognise here go to pytest, as with moat test) with
every boot's hypervisor blocks recorded (moat's QEMU plugin, or QEMU's block log with --mode)
and coverage.py on the Python tools, then print a summary and write build/coverage/index.html
(docs/coverage.md). Example: moat coverage tests/grants --json cov.json

reads:  tests/, build/hv/moat*.elf (DWARF line tables, symbols, code), build/qemu-plugin/libmoat-cov.so,
        tests/quality/thresholds.toml
writes: build/coverage/ (raw boot records, tests.json, index.html and its pages), --json FILE,
        tests/quality/thresholds.toml (only with --update-threshold)
"""

EPILOG = """\
exit status: pytest's (0 all passed, 1 some failed) when the tests ran; 3 moat could not do what
was asked (no build, no records for --report-only, an output it cannot write)
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "coverage", help="run the tests and report hv/ line and branch coverage and tools/ line coverage",
        description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON to FILE")
    p.add_argument("--mode", choices=coverage_trace.MODES, default=None,
                   help="how boots are recorded: plugin (the default: moat's QEMU plugin, "
                        "build/qemu-plugin/libmoat-cov.so, built by ./moat build; exact blocks and branch "
                        "outcomes, close to a plain boot's time), or one of QEMU's logs: chain (-d exec: every "
                        "block and the edges of chained jumps; up to 10x slower), asm (-d in_asm: blocks as "
                        "translated, branch outcomes inferred), nochain (-d exec,nochain: every edge, about "
                        "20x slower)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: report the records already in build/coverage/raw (e.g. from "
                        "MOAT_COVERAGE=build/coverage moat run ...)")
    p.add_argument("--update-threshold", action="store_true",
                   help="raise the checked-in thresholds (tests/quality/thresholds.toml) to this run's figures")
    p.set_defaults(func=run, passthrough=True)


RCFILE = """[run]
data_file = {data}
parallel = true
source = {source}
patch = subprocess
relative_files = false
"""


def python_coverage(out: Path) -> tuple[Path, Path]:
    """coverage.py's config for this run and where its data goes."""
    py = out / "python"
    py.mkdir(parents=True, exist_ok=True)
    rc = out / "coveragerc"
    rc.write_text(RCFILE.format(data=py / ".coverage", source=repo_root() / "tools" / "moat"), encoding="utf-8")
    return rc, py


def python_report(rc: Path, py: Path) -> dict[str, Any] | None:
    cov = [sys.executable, "-m", "coverage"]
    if subprocess.call([*cov, "combine", "--quiet", "--rcfile", str(rc)], cwd=py) != 0:
        return None
    subprocess.call([*cov, "html", "--quiet", "--rcfile", str(rc), "-d", str(py)], cwd=py)
    out = py / "coverage.json"
    if subprocess.call([*cov, "json", "--quiet", "--rcfile", str(rc), "-o", str(out)], cwd=py) != 0:
        return None
    totals = json.loads(out.read_text(encoding="utf-8"))["totals"]
    hit, total = totals["covered_lines"], totals["num_statements"]
    return {"lines_percent": coverage_report.percent(hit, total), "lines_hit": hit, "lines_total": total}


def whole_suite(pytest_extra: list[str]) -> bool:
    """Did the run cover the whole suite (no test paths, no -k/-m selection)?"""
    for arg in pytest_extra:
        if arg.startswith(("-k", "-m", "--deselect", "--lf", "--last-failed", "-x", "--exitfirst", "--ignore",
                           "--maxfail", "--sw", "--stepwise")):
            return False
        if not arg.startswith("-") and Path(arg.split("::", 1)[0]).exists():
            return False
    return True


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    # Refused before the run, not after it (a whole run takes half an hour or more).
    if args.update_threshold and (args.report_only or not whole_suite(args.extra)):
        raise UserError("--update-threshold needs a whole-suite run (no test paths, -k, -m, --ignore, "
                        "--deselect, -x or --maxfail; not --report-only); nothing was run")
    out = build_dir(root) / "coverage"
    raw = out / "raw"
    status = 0
    tools: dict[str, Any] | None = None
    if not args.report_only:
        if (args.mode or "plugin") == "plugin" and os.environ.get(coverage_trace.ENV_PLUGIN):
            coverage_trace.require_plugin()  # a plugin of one's own: the build does not make it
        status = run_scons([], root)
        if status != 0:
            print(f"moat: error: the build failed (scons exit status {status}); nothing run", file=sys.stderr)
            return status
        mode = args.mode or coverage_trace.default_mode()
        if mode == "plugin":
            coverage_trace.require_plugin()  # a clear error now, not one per boot
        elif args.mode is None:
            print(f"moat coverage: no QEMU plugin ({coverage_trace.plugin_path()}): recording with QEMU's "
                  "block log (--mode chain), which is several times slower", file=sys.stderr)
        shutil.rmtree(raw, ignore_errors=True)
        shutil.rmtree(out / "python", ignore_errors=True)
        raw.mkdir(parents=True)
        rc, py = python_coverage(out)
        env = dict(os.environ)
        env[coverage_trace.ENV_DIR] = str(out)
        env[coverage_trace.ENV_MODE] = mode
        env.pop(coverage_trace.ENV_TEST, None)
        start = time.monotonic()
        status = subprocess.call([sys.executable, "-m", "coverage", "run", "--rcfile", str(rc), "-m", "pytest",
                                  *pytest_args(args.extra, root)], cwd=root, env=env)
        wall = time.monotonic() - start
        print(f"moat coverage: the tests ran in {wall:.0f} s (pytest exit status {status})")
        tools = python_report(rc, py)
        (out / "python-summary.json").write_text(json.dumps(tools), encoding="utf-8")
    else:
        if not raw.is_dir():
            raise UserError(f"{raw} does not exist: run moat coverage (or boot with MOAT_COVERAGE={out}) first")
        saved = out / "python-summary.json"
        if saved.is_file():
            tools = json.loads(saved.read_text(encoding="utf-8"))
    hv = coverage_report.analyse(raw, root)
    if hv.boots == 0:
        raise UserError("no boot was recorded (no boot test ran, or the build changed since the records)")
    if hv.stale:
        print(f"moat coverage: {hv.stale} records of an older build ignored", file=sys.stderr)
    data = coverage_report.summary(hv, tools)
    print(coverage_report.terminal(data))
    coverage_report.write_json(out / "coverage.json", {k: v for k, v in data.items()})
    coverable: dict[str, list[int]] = {}
    for f, ln in sorted(hv.coverable):
        coverable.setdefault(f, []).append(ln)
    coverage_report.write_json(out / "tests.json", {"tests": hv.tests, "coverable": coverable})
    if args.json:
        coverage_report.write_json(args.json, data)
    index = coverage_report.write_html(data, hv, root, out, out / "python" if tools else None)
    print(f"report: {index}")
    measured = thresholds.from_coverage(data)
    whole = not args.report_only and whole_suite(args.extra)
    if whole:
        coverage_report.write_json(out / "last-full.json", data)
    for line in thresholds.compare(thresholds.load(root), measured):
        print(f"moat coverage: {line}" + ("" if whole else " (a partial run: the thresholds are for the whole suite)"))
    if args.update_threshold:
        for line in thresholds.raise_to(root, measured, thresholds.COVERAGE_MARGIN):
            print(f"moat coverage: {line}")
    return status
