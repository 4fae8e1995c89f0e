# SPDX-License-Identifier: MIT
"""moat mutate's parts: the mutants of a small C file (exact), ids that survive unrelated edits,
the equivalent-mutants file, the covering-test selection and the report's counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from moat import mutate, mutate_run
from moat.paths import repo_root

SOURCE = """// SPDX-License-Identifier: MIT
#define LIMIT 4
static int put_count;
void frame_put(int x);
int xsm_check(int a, int b);

int check(int a, int b)
{
    if (a < LIMIT && b >= 2)
        return a == b;
    frame_put(a);
    return xsm_check(a, b) || !b;
}
"""


def write(root: Path, text: str) -> str:
    (root / "hv").mkdir(exist_ok=True)
    (root / "hv" / "x.c").write_text(text)
    return "hv/x.c"


def test_every_operator_on_a_small_file(tmp_path):
    f = write(tmp_path, SOURCE)
    got = [(m.line, m.operator, m.original, m.replacement) for m in mutate.mutants(tmp_path, f)]
    assert got == [
        (9, "logical", "a < LIMIT && b >= 2", "((1 || (a < LIMIT)) && b >= 2)"),
        (9, "logical", "a < LIMIT && b >= 2", "(a < LIMIT && (1 || (b >= 2)))"),
        (9, "relational", "<", "<="),
        (9, "relational", ">=", ">"),
        (9, "constant", "2", "1"),
        (9, "constant", "2", "3"),
        (10, "relational", "==", "!="),
        (11, "call", "frame_put(a);", ";"),
        (12, "logical", "xsm_check(a, b) || !b", "((0 && (xsm_check(a, b))) || !b)"),
        (12, "logical", "xsm_check(a, b) || !b", "(xsm_check(a, b) || (0 && (!b)))"),
        (12, "swap", "a, b", "b, a"),
    ]
    # Nothing outside function bodies (the #define, the declarations) is mutated.
    assert all(m.function == "check" for m in mutate.mutants(tmp_path, f))


def test_ids_do_not_move_with_unrelated_lines(tmp_path):
    f = write(tmp_path, SOURCE)
    before = [m.id for m in mutate.mutants(tmp_path, f)]
    write(tmp_path, SOURCE.replace("static int put_count;\n", "static int put_count;\n\n/* more */\n\n"))
    after = [m.id for m in mutate.mutants(tmp_path, f)]
    assert before == after
    assert before[2] == "hv/x.c::check::relational::< -> <=::0"
    assert len(set(before)) == len(before)


def test_apply_and_diff(tmp_path):
    f = write(tmp_path, SOURCE)
    m = next(m for m in mutate.mutants(tmp_path, f) if m.operator == "call")
    src = (tmp_path / f).read_bytes()
    assert b"    ;\n    return xsm_check" in m.apply(src)
    assert "-    frame_put(a);\n+    ;\n" in m.diff(src)


def test_the_equivalent_mutants_file_names_mutants_that_exist():
    """Every entry has a reason and still matches a mutant of the current source."""
    root = repo_root()
    equivalents = mutate.load_equivalents(root)
    ids: dict[str, set[str]] = {}  # each file's mutants, parsed once (not once per entry: 173 entries, 16 files)
    for mid, eq in equivalents.items():
        file = mid.split("::", 1)[0]
        assert (root / file).is_file(), mid
        if file not in ids:
            ids[file] = {m.id for m in mutate.mutants(root, file)}
        assert mid in ids[file], f"stale entry: {mid}"
        assert len(eq.reason) > 20, mid


def test_a_bad_equivalents_file_is_refused(tmp_path):
    path = tmp_path / mutate.EQUIVALENT_FILE
    path.parent.mkdir(parents=True)
    path.write_text('[[equivalent]]\nid = "hv/x.c::f::constant::1 -> 2::0"\n')
    with pytest.raises(ValueError, match="needs an id and a reason"):
        mutate.load_equivalents(tmp_path)


def test_covering_tests_are_those_that_ran_the_line_fastest_first(tmp_path):
    f = write(tmp_path, SOURCE)
    m = next(m for m in mutate.mutants(tmp_path, f) if m.operator == "call")  # line 11
    test_map = {"t::slow": {"seconds": 9.0, "lines": {"hv/x.c": [11]}},
                "t::fast": {"seconds": 1.0, "lines": {"hv/x.c": [8, 11]}},
                "t::other": {"seconds": 0.5, "lines": {"hv/x.c": [12], "hv/y.c": [11]}},
                "(outside pytest)": {"seconds": 0.1, "lines": {"hv/x.c": [11]}}}
    assert mutate_run.covering_tests(m, test_map) == ["t::fast", "t::slow"]
    # A line with no code of its own (merged by the compiler) takes its function's tests.
    ret = next(m for m in mutate.mutants(tmp_path, f) if m.operator == "relational" and m.line == 10)
    assert m.function_lines == (7, 13)
    assert mutate_run.covering_tests(ret, test_map) == []
    assert mutate_run.covering_tests(ret, test_map, {"hv/x.c": {9, 11, 12}}) == ["t::other", "t::fast", "t::slow"]
    assert mutate_run.covering_tests(ret, test_map, {"hv/x.c": {9, 10, 11, 12}}) == []



INLINED = """// SPDX-License-Identifier: MIT
static int is_odd(int v) { return v % 2 != 0; }

int pick(int a)
{
    if (is_odd(a))
        return a;
    return is_odd(a + 1) ? 1 : 0;
}
"""


def test_an_inlined_function_takes_the_tests_of_its_calls(tmp_path):
    f = write(tmp_path, INLINED)
    m = next(m for m in mutate.mutants(tmp_path, f) if m.function == "is_odd" and m.operator == "relational")
    assert (m.line, m.function_lines, m.call_lines) == (2, (2, 2), (6, 8))
    test_map = {"t::calls": {"seconds": 2.0, "lines": {"hv/x.c": [6, 7]}},
                "t::other": {"seconds": 1.0, "lines": {"hv/x.c": [9]}}}
    # Line 2 has no code of its own: the compiler put is_odd's instructions on its callers' lines.
    assert mutate_run.covering_tests(m, test_map, {"hv/x.c": {6, 7, 8, 9}}) == ["t::calls"]
    # A function with code of its own that no test ran is not given its callers' tests.
    assert mutate_run.covering_tests(m, test_map, {"hv/x.c": {2, 6, 7, 8, 9}}) == []
    assert mutate_run.covering_tests(m, test_map) == []


def test_a_mutant_in_an_inline_function_takes_the_tests_of_the_whole_function(tmp_path):
    f = write(tmp_path, INLINED.replace("static int is_odd", "static inline int is_odd").replace(
        "int pick(int a)\n{\n    if", "static inline int pick(int a)\n{\n    if"))
    m = next(m for m in mutate.mutants(tmp_path, f) if m.function == "pick" and m.operator == "constant")
    assert m.inline and m.line == 8 and m.function_lines == (4, 9)
    # The boot that ran line 8's expression had its instructions put on line 6 (one copy of the
    # inlined function); a test that ran no line of pick is not taken.
    test_map = {"t::copy": {"seconds": 2.0, "lines": {"hv/x.c": [6]}},
                "t::line": {"seconds": 3.0, "lines": {"hv/x.c": [8]}},
                "t::other": {"seconds": 1.0, "lines": {"hv/x.c": [2]}}}
    assert mutate_run.covering_tests(m, test_map, {"hv/x.c": {2, 6, 7, 8}}) == ["t::copy", "t::line"]
    plain = next(m for m in mutate.mutants(tmp_path, write(tmp_path, INLINED)) if m.function == "pick"
                 and m.operator == "constant")
    assert not plain.inline and mutate_run.covering_tests(plain, test_map, {"hv/x.c": {2, 6, 7, 8}}) == ["t::line"]


def test_the_last_killer_of_a_function_runs_first(tmp_path, monkeypatch):
    f = write(tmp_path, SOURCE)
    ms = [m for m in mutate.mutants(tmp_path, f) if m.function == mutate.mutants(tmp_path, f)[0].function][:3]
    assert len(ms) == 3
    ran: list[list[str]] = []

    class FakeWorker:
        def __init__(self, root, dest, work=None):
            pass

        def run(self, m, tests, timeout, order=None):
            ran.append(list(order or tests))
            # Only t::slow catches these mutants; the first one meets it last.
            return mutate_run.Result(m, mutate_run.KILLED, tests, 0.0, "killed by t::slow")

    monkeypatch.setattr(mutate_run, "Worker", FakeWorker)
    tests = ["t::fast", "t::mid", "t::slow"]
    results = mutate_run.run_all(tmp_path, tmp_path / "work", [(m, tests, 10.0) for m in ms], jobs=1)
    assert ran == [tests, ["t::slow", "t::fast", "t::mid"], ["t::slow", "t::fast", "t::mid"]]
    assert all(r.tests == tests for r in results)  # the journal's key keeps the given order
    assert mutate_run.killer_first(tests, "t::elsewhere") == tests
    assert mutate_run.killer_of(mutate_run.Result(ms[0], mutate_run.KILLED, detail="timeout after 70 s")) is None
    assert mutate_run.killer_of(mutate_run.Result(ms[0], mutate_run.SURVIVED, detail="killed by x")) is None


def test_report_counts_and_rates(tmp_path):
    f = write(tmp_path, SOURCE)
    ms = mutate.mutants(tmp_path, f)
    results = [mutate_run.Result(ms[0], mutate_run.KILLED), mutate_run.Result(ms[1], mutate_run.KILLED),
               mutate_run.Result(ms[2], mutate_run.KILLED), mutate_run.Result(ms[3], mutate_run.SURVIVED, diff="d"),
               mutate_run.Result(ms[4], mutate_run.SURVIVED), mutate_run.Result(ms[5], mutate_run.NOT_BUILT)]
    eq = {ms[4].id: mutate.Equivalent(ms[4].id, "no guest can tell")}
    data = mutate_run.report(results, eq)
    assert (data["killed"], data["survived"], data["equivalent"], data["not_built"]) == (3, 1, 1, 1)
    assert data["kill_rate_percent"] == 75.0
    x = data["files"]["hv/x.c"]
    assert [s["id"] for s in x["survivors"]] == [ms[3].id] and x["survivors"][0]["diff"] == "d"
    assert x["equivalents"][0]["reason"] == "no guest can tell"


def test_host_programs_map_to_their_sources_and_tests():
    root = repo_root()
    if not (root / "build" / "host" / "acm_decide_check").is_file():
        pytest.fail("build/host/acm_decide_check is missing: run ./moat build first", pytrace=False)
    host = mutate_run.host_tests(root)
    assert "tests/policy" in host["hv/xsm/acm_decide.c"] or "tests/policy/test_decisions.py" in host[
        "hv/xsm/acm_decide.c"]
    assert "tests/attest/test_sha256.py" in host["hv/lib/sha256.c"]
    assert "tests/boot/test_acpi_tables.py" in host["hv/arch/x86_64/acpi_tables.c"]
    assert "tests/boot/test_string_lib.py" in host["hv/lib/string.c"]


def test_kill_tree_reaches_processes_in_their_own_session(tmp_path):
    """A mutant's timeout must take down the QEMU its tests started (QEMU runs in its own session)."""
    import subprocess
    import sys
    import time

    script = ("import subprocess, sys, time\n"
              "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
              f"open({str(tmp_path / 'child')!r}, 'w').write(str(c.pid))\n"
              "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    for _ in range(200):
        if (tmp_path / "child").is_file() and (tmp_path / "child").read_text():
            break
        time.sleep(0.05)
    child = int((tmp_path / "child").read_text())
    assert child in mutate_run.descendants(parent.pid)
    mutate_run.kill_tree(parent.pid)
    parent.wait(timeout=10)
    for _ in range(100):
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"process {child} still runs")
