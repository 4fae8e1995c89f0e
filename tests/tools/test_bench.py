# SPDX-License-Identifier: MIT
"""moat bench: the bench-line protocol, merging, checks, table/JSON, the CLI and one real boot."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from moat import bench, paths
from moat.bench import BenchLineError, Figure
from moat.pytest_plugin import CliResult, MoatCli, require_qemu

from .fakeqemu import install, printing

LINE = "bench: null_hypercall min=100 median=101 max=250 n=1000 unit=instructions"


def fig(name: str, lo: int, med: int, hi: int, n: int = 1, unit: str = "instructions") -> Figure:
    return Figure(name, lo, med, hi, n, unit)


# --- the line format ---------------------------------------------------------------------------

def test_parse_line_plain_and_with_domain_prefix():
    want = fig("null_hypercall", 100, 101, 250, 1000)
    assert bench.parse_line(LINE) == want
    assert bench.parse_line("(d12) " + LINE) == want


def test_parse_line_ignores_other_lines():
    for line in ("", "(d0) Test result: SUCCESS", "boot: tsc entry=1 banner=2",
                 "(d0) no bench: here" + "x"):
        assert bench.parse_line(line) is None


@pytest.mark.parametrize("body", [
    "bench: Null min=1 median=1 max=1 n=1 unit=instructions",          # uppercase name
    "bench: 9lives min=1 median=1 max=1 n=1 unit=instructions",        # starts with a digit
    "bench: x min=1 median=1 max=1 n=1",                               # no unit
    "bench: x min=1 max=1 median=1 n=1 unit=instructions",             # fields out of order
    "bench: x min=-1 median=1 max=1 n=1 unit=instructions",            # negative
    "bench: x min=1 median=1 max=1 n=1 unit=instructions extra",       # trailing text
    "bench: x min=2 median=1 max=3 n=1 unit=instructions",             # min > median
    "bench: x min=1 median=1 max=1 n=0 unit=instructions",             # no samples
    "bench: error: figure x has no samples",                           # a guest's own error
])
def test_parse_line_rejects_protocol_violations(body: str):
    with pytest.raises(BenchLineError):
        bench.parse_line("(d0) " + body)


def test_merge_one_sample_per_line_gives_exact_median():
    merged = bench.merge([fig("c", v, v, v) for v in (30, 10, 20, 40)])
    assert merged == fig("c", 10, 20, 40, 4)  # lower median of 10 20 30 40


def test_merge_keeps_extremes_and_sums_n():
    merged = bench.merge([fig("c", 5, 7, 9, 10), fig("c", 6, 8, 100, 20)])
    assert (merged.min, merged.max, merged.n) == (5, 100, 30)


def test_merge_refuses_mixed_units():
    with pytest.raises(BenchLineError, match="different units"):
        bench.merge([fig("c", 1, 1, 1), fig("c", 1, 1, 1, unit="kib")])


# --- a whole console ---------------------------------------------------------------------------

CONSOLE = [
    "moat 0.1.0 x86-64 hypervisor",
    "boot: tsc entry=8710847 banner=8719130",
    "frames: total=32639 free=31698 used=10 reserved=931",
    "(d0) bench: timer_overhead min=4 median=4 max=4 n=64 unit=instructions",
    "(d0) bench: a min=10 median=10 max=12 n=100 unit=instructions",
    "(d1) bench: b min=7 median=7 max=7 n=1 unit=instructions",
    "(d2) bench: b min=9 median=9 max=9 n=1 unit=instructions",
    "(d0) Test result: SUCCESS",
    "frames at stop: total=32639 free=31698 used=10 reserved=931",
]


def test_parse_console_merges_and_keeps_order():
    figures, errors = bench.parse_console(CONSOLE, ["a", "b"])
    assert errors == []
    assert [f.name for f in figures] == ["timer_overhead", "a", "b"]
    assert figures[2] == fig("b", 7, 7, 9, 2)


def test_parse_console_boot_figures_only_when_declared():
    figures, errors = bench.parse_console(CONSOLE, ["a", "firmware_to_entry", "boot_to_banner"])
    assert errors == []
    by_name = {f.name: f for f in figures}
    assert by_name["firmware_to_entry"].median == 8710847
    assert by_name["boot_to_banner"].median == 8719130 - 8710847
    figures, _ = bench.parse_console(CONSOLE, ["a"])
    assert "boot_to_banner" not in {f.name for f in figures}


def test_boot_to_first_guest_output_counts_from_the_hypervisor_entry():
    lines = ["boot: tsc entry=8710847 banner=8719146", "(d0) hello",
             "boot: tsc first_guest_output=9710847", "(d0) boot: tsc first_guest_output=1"]
    figures, errors = bench.parse_console(lines, ["boot_to_first_guest_output"])
    assert errors == []
    assert [(f.name, f.median) for f in figures] == [("boot_to_first_guest_output", 1_000_000)]
    # A guest cannot forge it: its lines carry the (d<id>) prefix, and without the entry line
    # there is nothing to count from.
    _, errors = bench.parse_console(lines[1:], ["boot_to_first_guest_output"])
    assert errors == ["missing figures: boot_to_first_guest_output"]


def test_parse_console_reports_missing_figures():
    _, errors = bench.parse_console(CONSOLE, ["a", "b", "c", "d"])
    assert errors == ["missing figures: c d"]


def test_parse_console_needs_a_figure_when_nothing_is_declared():
    _, errors = bench.parse_console(CONSOLE[:4])
    assert errors == ["no figures printed"]
    assert bench.parse_console(CONSOLE)[1] == []


def test_parse_console_reports_malformed_lines_and_leaks():
    lines = [*CONSOLE[:-1], "(d0) bench: broken", "frames at stop: total=32639 free=31690 used=1"]
    _, errors = bench.parse_console(lines, ["a"])
    assert errors[0] == "malformed bench line: 'broken'"
    assert errors[1] == "frames leaked: 31698 free at boot, 31690 at stop"


def test_frame_check_with_frames_kept_on_purpose(tmp_path: Path):
    lines = [CONSOLE[2], "frames at stop: total=32639 free=31694 used=14 reserved=931"]
    assert bench.frame_check(lines, kept=4) is None
    assert bench.frame_check(lines, kept=3) == ("frames leaked: 31698 free at boot, 31694 at stop "
                                                "(expected 3 fewer)")
    scen = tmp_path / "s.toml"
    scen.write_text("# bench-frames-kept: 4\n[hypervisor]\n")
    assert bench.declared_frames_kept(scen) == 4
    scen.write_text("[hypervisor]\n")
    assert bench.declared_frames_kept(scen) == 0


def test_frame_check_without_a_stop_line():
    assert bench.frame_check(CONSOLE[:3]) is None


def test_declared_figures(tmp_path: Path):
    scen = tmp_path / "s.toml"
    scen.write_text("# SPDX-License-Identifier: MIT\n# bench-figures: a b\n"
                    "#bench-figures:   c\n[hypervisor]\n")
    assert bench.declared_figures(scen) == ["a", "b", "c"]


def test_every_bench_scenario_declares_its_figures():
    root = paths.repo_root()
    scenarios = bench.find_scenarios(root)
    assert {p.stem for p in scenarios} >= {"boot", "null_hypercall", "switch", "create",
                                           "capacity", "mac_null", "mac_demo"}
    for path in scenarios:
        names = bench.declared_figures(path)
        assert names, f"{path} declares no figures (# bench-figures: ...)"
        for name in names:
            assert bench.parse_line(f"bench: {name} min=0 median=0 max=0 n=1 unit=x"), name


def test_table_and_json():
    results = [bench.ScenarioResult("s", Path("tests/bench/s.toml"),
                                    [fig("a", 1, 22, 333, 1000), fig("bb", 4, 4, 4, unit="kib")])]
    table = bench.format_table(results).splitlines()
    assert table[0].split() == ["scenario", "figure", "min", "median", "max", "n", "unit"]
    assert table[2].split() == ["s", "a", "1", "22", "333", "1000", "instructions"]
    assert table[3].split() == ["s", "bb", "4", "4", "4", "1", "kib"]
    # Numbers are right-aligned under their headers.
    end = table[0].index("max") + len("max")
    assert table[2].index("333") + 3 == end == table[3].rindex("4") + 1
    data = json.loads(json.dumps(bench.to_json(results)))
    assert "-icount shift=0,sleep=off" in data["unit_note"]
    assert data["scenarios"][0]["figures"][0] == {"name": "a", "min": 1, "median": 22,
                                                  "max": 333, "n": 1000, "unit": "instructions"}
    assert data["scenarios"][0]["ok"] is True


def test_goals_and_floors_are_printed_beside_their_figures():
    goals = {"domain_switch": bench.Goal(140, 62), "evtchn_send": bench.Goal(150)}
    results = [bench.ScenarioResult("s", Path("tests/bench/s.toml"),
                                    [fig("domain_switch", 217, 217, 217), fig("evtchn_send", 146, 150, 151),
                                     fig("other", 5, 5, 5)])]
    table = bench.format_table(results, goals).splitlines()
    assert table[0].split() == ["scenario", "figure", "min", "median", "max", "n", "unit", "goal", "floor"]
    assert table[2].split()[-3:] == ["140", "62", "missed"]
    assert table[3].split()[-2:] == ["150", "met"]  # a median equal to the goal meets it; no floor
    assert table[4].split() == ["s", "other", "5", "5", "5", "1", "instructions"]
    # Without a figure that has a goal, the table is the plain one.
    plain = [bench.ScenarioResult("s", Path("tests/bench/s.toml"), [fig("other", 5, 5, 5)])]
    assert bench.format_table(plain, goals).splitlines()[0].split()[-1] == "unit"


def test_every_goal_names_a_figure_some_benchmark_declares():
    from moat import hostbench

    root = paths.repo_root()
    declared = {name for path in bench.find_scenarios(root) for name in bench.declared_figures(path)}
    assert set(bench.GOALS) <= declared | set(hostbench.FIGURES)
    assert all(g.floor is None or g.floor < g.goal for g in bench.GOALS.values())


# --- the command, with a fake QEMU -------------------------------------------------------------

@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "build" / "hv").mkdir(parents=True)
    (root / "build" / "hv" / "moat.bin").write_bytes(b"\0")
    (root / "tests" / "bench").mkdir(parents=True)
    (root / "tests" / "bench" / "tiny.toml").write_text(
        "# SPDX-License-Identifier: MIT\n# bench-figures: a boot_to_banner\n"
        "[hypervisor]\nbuild = \"moat\"\n")
    return root


Moat = Callable[..., CliResult]


@pytest.fixture
def moat(moat_cli: MoatCli) -> Moat:
    """moat(*ARGS, root=): `moat ARGS` in the tree at root, in this process (moat_cli): the command
    is under test, not the start-up of a `python -m moat` (tests/tools/test_cli.py has that)."""
    def run(*args: str, root: Path) -> CliResult:
        result = moat_cli(*args, cwd=root, MOAT_ROOT=str(root))
        assert "Traceback" not in result.stderr, result.stderr
        return result
    return run


def test_cli_list(fake_root: Path, moat: Moat):
    proc = moat("bench", "--list", root=fake_root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "tiny: a boot_to_banner"
    assert proc.stdout.splitlines()[1].startswith("policy_compile: policy_compile_5000_toml_s ")


def test_cli_unknown_name(fake_root: Path, moat: Moat):
    proc = moat("bench", "--no-build", "nope", root=fake_root)
    assert proc.returncode == 3
    assert "no bench scenario nope" in proc.stderr and "tiny" in proc.stderr


def test_cli_success_table_and_json(monkeypatch, fake_root: Path, tmp_path: Path, moat: Moat):
    args_file = tmp_path / "args"
    install(monkeypatch, tmp_path / "bin", printing(
        ["boot: tsc entry=100 banner=130", "(d0) bench: a min=1 median=2 max=3 n=5 unit=instructions",
         "moat: stop: success"],
        1, args_file))
    out = tmp_path / "out" / "bench.json"
    proc = moat("bench", "--no-build", "tiny", "--json", str(out), root=fake_root)
    assert proc.returncode == 0, proc.stderr
    assert "identical from run to run" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert ["tiny", "a", "1", "2", "3", "5", "instructions"] in rows
    assert ["tiny", "boot_to_banner", "30", "30", "30", "1", "instructions"] in rows
    assert "shift=0,sleep=off" in args_file.read_text().splitlines()
    assert json.loads(out.read_text())["scenarios"][0]["figures"][0]["name"] == "a"


@pytest.mark.parametrize("lines,qemu_exit,message", [
    (["boot: tsc entry=1 banner=2", "moat: stop: success"], 1, "missing figures: a"),
    (["boot: tsc entry=1 banner=2", "(d0) bench: a min=1 median=1 max=1 n=1 unit=instructions"],
     0, "crash: QEMU exited with status 0"),
    (["boot: tsc entry=1 banner=2", "(d0) bench: a min=1 median=1 max=1 n=1 unit=instructions",
      "Test result: FAILURE", "moat: stop: failure"], 3, "failure (QEMU exit status 3)"),
])
def test_cli_failures_exit_1(monkeypatch, fake_root: Path, tmp_path: Path, lines, qemu_exit,
                             message, moat: Moat):
    install(monkeypatch, tmp_path / "bin", printing(lines, qemu_exit))
    proc = moat("bench", "--no-build", "tiny", root=fake_root)
    assert proc.returncode == 1
    assert f"tiny: FAILED: {message}" in proc.stderr
    assert "1 of 1 scenarios failed: tiny" in proc.stderr


# --- one real boot -----------------------------------------------------------------------------

def test_smoke_boot_null_hypercall():
    """The smallest real bench scenario under icount: its figures arrive in the protocol's format.

    About a second; the other scenarios run with `moat bench`.
    """
    require_qemu()
    root = paths.repo_root()
    if not paths.hv_image("moat", root=root).is_file():
        pytest.fail("build/hv/moat.bin is missing: run ./moat build first", pytrace=False)
    path = bench.bench_dir(root) / "null_hypercall.toml"
    result = bench.run_scenario(path, root, timeout=60,
                                log_dir=paths.build_dir(root) / "test-logs" / "bench")
    assert result.errors == [], f"see {result.log}"
    by_name = {f.name: f for f in result.figures}
    assert set(by_name) == {"timer_overhead", *bench.declared_figures(path)}
    for f in result.figures:
        assert f.unit == "instructions"
        assert f.n == (64 if f.name == "timer_overhead" else 1000)
    # Under icount the overhead is a handful of instructions and a hypercall is no less than the
    # floor of the facts file (32: syscall, bounds-checked C dispatch, sysretq).
    assert 0 < by_name["timer_overhead"].median < 10
    assert by_name["null_hypercall_enosys"].median >= 32
    assert by_name["null_hypercall_xen_version"].median > by_name["null_hypercall_enosys"].median


def test_format_compare_prints_each_figures_change():
    old = {"scenarios": [{"name": "s", "figures": [
        {"name": "a", "min": 1, "median": 200, "max": 1, "n": 1, "unit": "instructions"},
        {"name": "b", "min": 1, "median": 100, "max": 1, "n": 1, "unit": "instructions"}]}]}
    result = bench.ScenarioResult("s", Path("s.toml"), figures=[
        fig("timer_overhead", 4, 4, 4, 1), fig("a", 150, 150, 150, 1), fig("b", 110, 110, 110, 1),
        fig("c", 5, 5, 5, 1)])
    rows = [line.split() for line in bench.format_compare(old, [result]).splitlines()[2:]]
    assert rows == [["s", "a", "200", "150", "-50", "(-25.0%)"],
                    ["s", "b", "100", "110", "+10", "(+10.0%)"],
                    ["s", "c", "-", "5", "new"]]
