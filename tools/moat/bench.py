# SPDX-License-Identifier: MIT
"""Benchmarks (docs/benchmarks.md): boot bench scenarios under icount, collect `bench:` lines.

A bench guest prints one line per figure,

    bench: <figure> min=<n> median=<n> max=<n> n=<samples> unit=<unit>

(the hypervisor prefixes guest lines with `(d<id>) `). This module parses those lines, merges
repeats of a figure, derives the boot figures from the hypervisor's `boot: tsc` line, checks the
free-frame count at stop, and formats the results as a table or JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ICOUNT_NOTE = ("unit: instructions under -icount shift=0,sleep=off; identical from run to run "
               "(other units are named)")

DEFAULT_TIMEOUT = 300.0  # icount is slower than plain TCG, and the machine is shared

_NAME = r"[a-z][a-z0-9_]*"
_BENCH = re.compile(r"(?:^|\) )bench: (.*)$")
_FIGURE = re.compile(
    rf"^(?P<name>{_NAME}) min=(?P<min>\d+) median=(?P<median>\d+) max=(?P<max>\d+) "
    rf"n=(?P<n>\d+) unit=(?P<unit>{_NAME})$")
_BOOT_TSC = re.compile(r"^boot: tsc entry=(\d+) banner=(\d+)$")
_FIRST_OUTPUT = re.compile(r"^boot: tsc first_guest_output=(\d+)$")
_MEASURE = re.compile(r"^measure: boot: \d+ events .*, (\d+) bytes hashed in (\d+) tsc$")
_FRAMES = re.compile(r"^frames: total=\d+ free=(\d+) ")
_FRAMES_STOP = re.compile(r"^frames at stop: total=\d+ free=(\d+) ")
_DECLARED = re.compile(r"^#\s*bench-figures:(.*)$")
_FRAMES_KEPT = re.compile(r"^#\s*bench-frames-kept:\s*(\d+)\s*$")

BOOT_FIGURES = ("firmware_to_entry", "boot_to_banner", "boot_to_first_guest_output", "boot_hash_per_kib")


class BenchLineError(ValueError):
    """A `bench:` line that does not follow the protocol."""


@dataclass(frozen=True)
class Figure:
    name: str
    min: int | float  # float only for the host's wall-clock figures (unit "s")
    median: int | float
    max: int | float
    n: int
    unit: str


@dataclass(frozen=True)
class Goal:
    """Issue 12's goal for a figure (every goal is an upper bound: at most this) and, where the
    issue gives one, its floor (what the path would cost at the least; docs/benchmarks.md)."""
    goal: int | float
    floor: int | float | None = None

    def met(self, median: int | float) -> bool:
        return median <= self.goal


# The goals `moat bench` prints beside the figures, by figure name (a figure of that name in any
# scenario: the mac_null and mac_demo policy loads share theirs). The table; kept here,
# not in the scenarios, so one place says what every figure is held to.
GOALS: dict[str, Goal] = {
    "null_hypercall_enosys": Goal(60, 46),
    "domain_switch": Goal(140, 62),
    "evtchn_send": Goal(150),
    "evtchn_ping_pong": Goal(1000, 510),
    "evtchn_ping_pong_fast": Goal(800),
    "gnt_map_unmap": Goal(600, 92),
    "gnt_copy_4k": Goal(1400),
    "gnt_revoke_1": Goal(2000),
    "gnt_revoke_100": Goal(300),
    "mac_setpolicy_refuse_10": Goal(30000),
    "domctl_create": Goal(150000, 131000),
    "boot_to_first_guest_output": Goal(1000000),
    "policy_compile_5000_toml_s": Goal(0.5),
    "policy_compile_5000_xml_s": Goal(0.5),
    "moat_help_s": Goal(0.15),
}


@dataclass
class ScenarioResult:
    name: str
    path: Path
    figures: list[Figure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_line(line: str) -> Figure | None:
    """The figure on one console line; None when it is not a bench line.

    Raises BenchLineError for a bench line that breaks the protocol (including a guest's own
    `bench: error: ...` line).
    """
    m = _BENCH.search(line)
    if m is None:
        return None
    body = m.group(1).strip()
    f = _FIGURE.match(body)
    if f is None:
        raise BenchLineError(f"malformed bench line: {body!r}")
    fig = Figure(f["name"], int(f["min"]), int(f["median"]), int(f["max"]), int(f["n"]),
                 f["unit"])
    if fig.n < 1:
        raise BenchLineError(f"{fig.name}: n must be at least 1")
    if not fig.min <= fig.median <= fig.max:
        raise BenchLineError(f"{fig.name}: min <= median <= max does not hold")
    return fig


def _lower_median(values: Sequence[int | float]) -> int | float:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def merge(figures: Sequence[Figure]) -> Figure:
    """Several lines of one figure as one: n summed, extremes, the median of the medians."""
    if not figures:
        raise ValueError("nothing to merge")
    first = figures[0]
    units = {f.unit for f in figures}
    if len(units) != 1:
        raise BenchLineError(f"{first.name}: printed with different units {sorted(units)}")
    if len(figures) == 1:
        return first
    return Figure(first.name, min(f.min for f in figures),
                  _lower_median([f.median for f in figures]), max(f.max for f in figures),
                  sum(f.n for f in figures), first.unit)


def boot_figures(lines: Iterable[str]) -> list[Figure]:
    """firmware_to_entry and boot_to_banner from the hypervisor's `boot: tsc` line,
    boot_to_first_guest_output (hypervisor entry to the first guest console line) from its
    `boot: tsc first_guest_output=` line, and boot_hash_per_kib (SHA-256 of the measured launch,
    per KiB hashed) from its `measure: boot:` line (n=1 each)."""
    figures: list[Figure] = []
    entry: int | None = None
    for line in lines:
        m = _BOOT_TSC.match(line)
        if m and entry is None:
            entry, banner = int(m.group(1)), int(m.group(2))
            figures += [Figure("firmware_to_entry", entry, entry, entry, 1, "instructions"),
                        Figure("boot_to_banner", banner - entry, banner - entry, banner - entry, 1,
                               "instructions")]
        m = _FIRST_OUTPUT.match(line)
        if m and entry is not None:
            first = int(m.group(1)) - entry
            figures.append(Figure("boot_to_first_guest_output", first, first, first, 1,
                                  "instructions"))
        m = _MEASURE.match(line)
        if m and int(m.group(1)):
            per_kib = int(m.group(2)) * 1024 // int(m.group(1))
            figures.append(Figure("boot_hash_per_kib", per_kib, per_kib, per_kib, 1, "instructions"))
    return figures


def frame_check(lines: Sequence[str], kept: int = 0) -> str | None:
    """An error when the free-frame count at stop is not the one at boot minus kept.

    kept is what a scenario declares the hypervisor keeps on purpose (a policy loaded at run
    time stays in frames of its own), so the check stays exact.
    """
    boot = stop = None
    for line in lines:
        if m := _FRAMES.match(line):
            boot = int(m.group(1)) if boot is None else boot
        elif m := _FRAMES_STOP.match(line):
            stop = int(m.group(1))
    if boot is None or stop is None:
        return None  # no domains ran (no stop line), or an old hypervisor: nothing to compare
    if boot - stop != kept:
        expected = f" (expected {kept} fewer)" if kept else ""
        return f"frames leaked: {boot} free at boot, {stop} at stop{expected}"
    return None


def parse_console(lines: Sequence[str], declared: Sequence[str] = (),
                  frames_kept: int = 0) -> tuple[list[Figure], list[str]]:
    """The figures of one boot (merged, in order of first appearance) and what is wrong."""
    errors: list[str] = []
    found: dict[str, list[Figure]] = {}
    for line in lines:
        try:
            fig = parse_line(line)
        except BenchLineError as exc:
            errors.append(str(exc))
            continue
        if fig is not None:
            found.setdefault(fig.name, []).append(fig)
    figures: list[Figure] = []
    for group in found.values():
        try:
            figures.append(merge(group))
        except BenchLineError as exc:
            errors.append(str(exc))
    names = {f.name for f in figures}
    for boot_fig in boot_figures(lines):
        if boot_fig.name in declared and boot_fig.name not in names:
            figures.append(boot_fig)
            names.add(boot_fig.name)
    missing = [name for name in declared if name not in names]
    if missing:
        errors.append(f"missing figures: {' '.join(missing)}")
    if not declared and not any(f.name != "timer_overhead" for f in figures):
        errors.append("no figures printed")
    if (leak := frame_check(lines, frames_kept)) is not None:
        errors.append(leak)
    return figures, errors


def declared_figures(path: Path) -> list[str]:
    """The figures a scenario declares in `# bench-figures: a b c` comment lines."""
    names: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _DECLARED.match(line.strip())
        if m:
            names.extend(m.group(1).split())
    return names


def declared_frames_kept(path: Path) -> int:
    """Frames a scenario leaves allocated on purpose (`# bench-frames-kept: N`), default 0."""
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _FRAMES_KEPT.match(line.strip())
        if m:
            return int(m.group(1))
    return 0


def bench_dir(root: Path) -> Path:
    return root / "tests" / "bench"


# Benchmarks of the tools themselves (moat.hostbench), run beside the scenarios.
HOST_BENCHES = ("policy_compile",)


def find_scenarios(root: Path, names: Sequence[str] = ()) -> list[Path]:
    """tests/bench/*.toml sorted by name, or only those named (file names without .toml).

    Names of host benchmarks (HOST_BENCHES) are accepted and left out of the list.
    """
    available = {p.stem: p for p in sorted(bench_dir(root).glob("*.toml"))}
    if not names:
        return list(available.values())
    unknown = [n for n in names if n not in available and n not in HOST_BENCHES]
    if unknown:
        from moat.errors import UserError

        raise UserError(f"no bench scenario {', '.join(unknown)} in {bench_dir(root)} "
                        f"(there are: {', '.join([*available, *HOST_BENCHES]) or 'none'})")
    return [available[n] for n in dict.fromkeys(names) if n in available]


def host_benches(names: Sequence[str] = ()) -> list[str]:
    """The host benchmarks to run: all without names, else those named."""
    return [n for n in HOST_BENCHES if not names or n in names]


def run_host(name: str) -> ScenarioResult:
    """Run one host benchmark (moat.hostbench) as a pseudo-scenario."""
    from moat import hostbench

    result = ScenarioResult(name, Path("tools/moat/hostbench.py"))
    try:
        result.figures = hostbench.run()
    except (OSError, ValueError, RuntimeError) as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    return result


def run_scenario(path: Path, root: Path, *, timeout: float = DEFAULT_TIMEOUT,
                 log_dir: Path | None = None,
                 on_line: Callable[[str], None] | None = None) -> ScenarioResult:
    """Boot one bench scenario under icount and collect its figures."""
    from moat import paths, qemu, scenario
    from moat.xtf import Outcome

    result = ScenarioResult(path.stem, path)
    scen = scenario.load(path)
    if scen.hypervisor.build != "moat":
        result.errors.append(f"bench scenarios must boot the moat build, not "
                             f"{scen.hypervisor.build!r}")
        return result
    declared = declared_figures(path)
    kernel = paths.require_built(paths.hv_image(scen.hypervisor.build, root=root))
    result.log = (log_dir or paths.build_dir(root) / "bench-logs") / f"{path.stem}.log"
    boot = qemu.boot(kernel, scen.hypervisor.cmdline, scen.module_pairs(), timeout=timeout,
                     log=result.log, memory=scen.hypervisor.memory, icount=True,
                     on_line=on_line, cwd=root, smp=scen.hypervisor.cpus or 1)
    result.figures, result.errors = parse_console(boot.lines, declared,
                                                  declared_frames_kept(path))
    if boot.status is not qemu.Status.SUCCESS:
        result.errors.insert(0, boot.describe())
    elif boot.xtf is not None and boot.outcome is not Outcome.SUCCESS:
        reason = f": {boot.xtf_reason}" if boot.xtf_reason else ""
        result.errors.insert(0, f"Test result: {boot.xtf}{reason}")
    return result


def _num(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


_NUMERIC_COLUMNS = (2, 3, 4, 5, 7, 8)  # min, median, max, n, goal, floor: right-aligned


def _fmt_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    out = []
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        out.append(cell.rjust(width) if i in _NUMERIC_COLUMNS else cell.ljust(width))
    return "  ".join(out).rstrip()


def _goal_cells(f: Figure, goals: dict[str, Goal]) -> list[str]:
    """goal, floor and whether the median meets the goal; blank for a figure without a goal."""
    g = goals.get(f.name)
    if g is None:
        return ["", "", ""]
    return [_num(g.goal), "" if g.floor is None else _num(g.floor), "met" if g.met(f.median) else "missed"]


def format_table(results: Sequence[ScenarioResult], goals: dict[str, Goal] | None = None) -> str:
    """One row per figure: scenario, figure, min, median, max, n, unit; and goal, floor and
    met/missed when a figure of the results has a goal in `goals`."""
    goals = goals or {}
    with_goals = any(f.name in goals for r in results for f in r.figures)
    header = ["scenario", "figure", "min", "median", "max", "n", "unit"]
    if with_goals:
        header += ["goal", "floor", ""]
    rows = [[r.name, f.name, _num(f.min), _num(f.median), _num(f.max), str(f.n), f.unit,
             *(_goal_cells(f, goals) if with_goals else [])]
            for r in results for f in r.figures]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [_fmt_row(header, widths), _fmt_row(["-" * w for w in widths], widths)]
    lines += [_fmt_row(row, widths) for row in rows]
    return "\n".join(lines)


def format_compare(old: dict[str, Any], results: Sequence[ScenarioResult]) -> str:
    """Each figure of results beside the same scenario's figure in old (a `--json` file): the old
    median, the new one and the change. Figures old does not have are marked new."""
    before: dict[tuple[str, str], int | float] = {}
    for scen in old.get("scenarios", []):
        for f in scen.get("figures", []):
            before[(scen["name"], f["name"])] = f["median"]
    header = ["scenario", "figure", "before", "after", "change"]
    rows = []
    for r in results:
        for f in r.figures:
            if f.name == "timer_overhead":
                continue
            was = before.get((r.name, f.name))
            if was is None:
                rows.append([r.name, f.name, "-", _num(f.median), "new"])
                continue
            delta = f.median - was
            pct = f" ({delta / was:+.1%})" if was else ""
            change = f"{_num(delta) if delta <= 0 else '+' + _num(delta)}{pct}"
            rows.append([r.name, f.name, _num(was), _num(f.median), change])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    out = [_fmt_cmp(header, widths), _fmt_cmp(["-" * w for w in widths], widths)]
    out += [_fmt_cmp(row, widths) for row in rows]
    return "\n".join(out)


def _fmt_cmp(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.rjust(w) if i >= 2 else c.ljust(w)
                     for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()


def _rel(path: Path) -> str:
    """A path inside the repository relative to its root (the JSON is kept in docs/)."""
    from moat import paths

    try:
        return str(path.resolve().relative_to(paths.repo_root()))
    except ValueError:
        return str(path)


def to_json(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    return {
        "unit_note": ICOUNT_NOTE,
        "icount": "shift=0,sleep=off",
        "scenarios": [
            {"name": r.name, "path": _rel(r.path), "ok": r.ok, "errors": r.errors,
             "log": _rel(r.log) if r.log else None,
             "figures": [asdict(f) for f in r.figures]}
            for r in results
        ],
    }


# --- docs/benchmarks.md: the figures table, generated from `moat bench --json` output --------------

DOC_BEGIN = "<!-- bench-figures: generated by `moat bench --docs FILE.json`; do not edit by hand -->"
DOC_END = "<!-- bench-figures: end -->"


def _grouped(value: int | float) -> str:
    """8710847 -> '8 710 847' (the docs' thin grouping); seconds keep three decimals."""
    if isinstance(value, float):
        return f"{value:.3f}"
    return f"{value:,}".replace(",", " ")


def figures_markdown(data: dict[str, Any], goals: dict[str, Goal] | None = None) -> str:
    """The figures table (scenario, figure, median, unit) of a `moat bench --json` file; with a
    goal and a floor column when one of its figures has a goal in `goals`."""
    goals = goals or {}
    figures = [(scen["name"], f) for scen in sorted(data["scenarios"], key=lambda s: s["name"])
               for f in scen["figures"] if f["name"] != "timer_overhead"]
    with_goals = any(f["name"] in goals for _, f in figures)
    if with_goals:
        rows = ["| scenario | figure | median | unit | goal | floor |", "|---|---|---:|---|---:|---:|"]
    else:
        rows = ["| scenario | figure | median | unit |", "|---|---|---:|---|"]
    for scen_name, f in figures:
        cells = [scen_name, f["name"], _grouped(f["median"]), f["unit"]]
        if with_goals:
            g = goals.get(f["name"])
            cells.append("" if g is None else f"{_grouped(g.goal)} {'met' if g.met(f['median']) else 'missed'}")
            cells.append("" if g is None or g.floor is None else _grouped(g.floor))
        rows.append("|" + "|".join(f" {c} " if c else " " for c in cells) + "|")
    return "\n".join(rows)


def update_doc(text: str, data: dict[str, Any]) -> str:
    """text with the table between DOC_BEGIN and DOC_END replaced by the one data gives."""
    try:
        head, rest = text.split(DOC_BEGIN, 1)
        _, tail = rest.split(DOC_END, 1)
    except ValueError:
        raise ValueError(f"the markers {DOC_BEGIN!r} and {DOC_END!r} are missing") from None
    return f"{head}{DOC_BEGIN}\n{figures_markdown(data, GOALS)}\n{DOC_END}{tail}"
