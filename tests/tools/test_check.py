# SPDX-License-Identifier: MIT
"""`moat check`: each analyzer finds what is planted in a small copy of the tree, names itself
and makes the command exit 1; the report's format; what counts as a finding.

The copies hold only what the analyzer under test reads (MOAT_ROOT points `moat check` at them),
so each run takes seconds. CI runs `moat check` over the real tree (.ci/run), beside the suite.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from moat.commands import check
from moat.pytest_plugin import MoatCli, skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^moat check: (?P<title>.+?)\s+(?P<count>\d+) findings\s+[\d.]+ s", re.M)


RunCheck = Callable[..., tuple[int, str, dict[str, int]]]


@pytest.fixture
def run_check(moat_cli: MoatCli) -> RunCheck:
    """run_check(root, *ARGS): `moat check ARGS` on the tree at root, (exit status, output,
    {analyzer title: findings}). In this process (moat_cli): the command is under test, not its
    start-up; the analyzers and their builds are processes of their own, as always."""
    def run(root: Path, *args: str) -> tuple[int, str, dict[str, int]]:
        result = moat_cli("check", *args, cwd=root, MOAT_ROOT=str(root))
        out = result.stdout + result.stderr
        return result.returncode, out, {m["title"]: int(m["count"]) for m in LINE.finditer(result.stdout)}
    return run


def need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        skip_or_fail(f"not installed: {', '.join(missing)} (./moat installs them)")


def copy(dest: Path, *paths: str) -> None:
    for rel in paths:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


# images/SConscript in a planted tree without the guest library: `scons check=NAME` builds the
# hypervisor alone (SConstruct adds what this returns to what it builds, a tuple as hv/SConscript's).
NO_GUEST_LIBRARY = "# SPDX-License-Identifier: MIT\n# A planted tree's: no guest library.\nlib = ()\nReturn('lib')\n"


def c_tree(dest: Path, planted: str, guest_library: bool = False) -> Path:
    """The build's skeleton (SConstruct, hv/ headers, the shared library's headers) and one
    hypervisor source file, hv/core/planted.c.

    Without guest_library, images/SConscript is a stand-in that builds nothing, so each analyzer
    compiles planted.c (and what a test puts beside it) and links it: what is planted is all there
    is to find. Every file a build compiles costs a compiler run per analyzer (scan-build's
    wrapper 0.15 s of CPU a file): the ten files of the guest library's stand-ins below took
    three quarters of each run (scan-build 1.9 s of CPU against 0.5).
    With guest_library, the real images/SConscript builds the guest library too, from its headers
    and one-line stand-ins for the shared library's sources (hv/lib/*.c, which it names and the
    hypervisor's build compiles too): `scons check=NAME`'s whole build, as over the real tree,
    without analysing the real sources (`moat check` does; here that took nine tenths of each
    run, 27 s of CPU instead of 2 for the four analyzers)."""
    copy(dest, "SConstruct", "hv/SConscript", "hv/include", "hv/internal", "hv/lib/include", "hv/arch/x86_64/linker.ld",
         "hv/arch/x86_64/include", "tools/moat/__init__.py", "tools/moat/include_roots.py")
    if guest_library:
        copy(dest, "images/SConscript", "images/lib/include", "images/lib/guest.ld")
        for source in sorted((ROOT / "hv" / "lib").glob("*.c")):
            (dest / "hv" / "lib" / source.name).write_text(
                f"// SPDX-License-Identifier: MIT\nint stand_in_{source.stem}(void);\n")
    else:
        (dest / "images").mkdir(parents=True)
        (dest / "images" / "SConscript").write_text(NO_GUEST_LIBRARY)
    (dest / "hv" / "core").mkdir(parents=True)
    (dest / "hv" / "core" / "planted.c").write_text(planted_c(planted))
    return dest


def planted_c(planted: str) -> str:
    """hv/core/planted.c of a planted tree: `planted` after _start32, the linker script's entry
    point (which the real tree has in boot.S)."""
    return "// SPDX-License-Identifier: MIT\nvoid _start32(void);\nvoid _start32(void) {}\n" + planted


BIG_FRAME = """
void use(char *buffer);
void planted(void);
void planted(void)
{
    char buffer[4096]; /* a 4 KiB frame: the stacks cannot afford it */
    use(buffer);
}
"""

NULL_AFTER_CHECK = """
int planted(const int *p);
int planted(const int *p)
{
    if (p)
        return 0;
    return *p; /* line 10, NULL: the compilers say nothing, the analyzers must */
}
"""


def test_both_compilers_refuse_a_big_stack_frame(tmp_path, run_check):
    need("gcc", "clang")
    status, out, counts = run_check(c_tree(tmp_path, BIG_FRAME), "--only", "gcc,clang")
    assert status == 1, out
    assert counts["gcc"] >= 1 and counts["clang"] >= 1, out
    assert re.search(r"hv/core/planted\.c:\d+:\d+: the frame size of \d+ bytes is larger than 2048", out), out
    assert re.search(r"hv/core/planted\.c:\d+:\d+: stack frame size \(\d+\) exceeds limit \(2048\)", out), out
    assert "moat check: FAILED" in out


def test_a_clean_tree_passes(tmp_path, run_check):
    """The whole build of each check, the guest library's too (on stand-ins), is clean."""
    need("gcc", "clang")
    status, out, counts = run_check(c_tree(tmp_path, "int planted(int x);\nint planted(int x) { return x; }\n",
                                           guest_library=True), "--only", "gcc,clang,gcc-analyzer")
    assert status == 0, out
    assert counts == {"gcc": 0, "clang": 0, "gcc -fanalyzer": 0}, out
    assert "moat check: clean: 0 findings from 3 analyzers" in out


def test_cppcheck_finds_a_bug_and_wants_a_reason_for_each_suppression(tmp_path, run_check):
    need("cppcheck")
    (tmp_path / "hv" / "core").mkdir(parents=True)
    (tmp_path / "hv" / "core" / "planted.c").write_text(
        "int planted(void);\nint planted(void)\n{\n    int a[4] = {0};\n    return a[4];\n}\n"
        "int quiet(int *p);\nint quiet(int *p)\n{\n    /* cppcheck-suppress nullPointerRedundantCheck */\n"
        "    return p ? 0 : *p;\n}\n")
    status, out, counts = run_check(tmp_path, "--only", "cppcheck")
    assert status == 1, out
    assert counts["cppcheck"] >= 2, out
    assert "nullPointerRedundantCheck" not in out, out  # suppressed, but the suppression is a finding
    assert re.search(r"hv/core/planted\.c:5:\d+: error: .*\[arrayIndexOutOfBounds\]", out), out
    assert "hv/core/planted.c:10: cppcheck suppression without a reason" in out


def test_a_suppression_with_its_reason_is_accepted(tmp_path, run_check):
    need("cppcheck")
    (tmp_path / "hv").mkdir()
    (tmp_path / "hv" / "planted.c").write_text(
        "int quiet(int *p);\nint quiet(int *p)\n{\n"
        "    /* cppcheck-suppress nullPointerRedundantCheck ; planted: the test wants this one silenced */\n"
        "    return p ? 0 : *p;\n}\n")
    status, out, counts = run_check(tmp_path, "--only", "cppcheck")
    assert (status, counts) == (0, {"cppcheck": 0}), out


def test_ruff_and_mypy_read_the_root_config(tmp_path, run_check):
    copy(tmp_path, "ruff.toml", "mypy.ini")
    pkg = tmp_path / "tools" / "moat"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "planted.py").write_text("import os\n\n\ndef f(x):\n    return x\n\n\nn: int = 'one'\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    status, out, counts = run_check(tmp_path, "--only", "ruff,mypy")
    assert status == 1, out
    assert counts["ruff"] == 1 and "tools/moat/planted.py:1:8: F401" in out, out
    # mypy --strict: the untyped function and the str assigned to an int
    assert counts["mypy"] == 2, out
    assert "planted.py:4: error: Function is missing a type annotation" in out
    assert "planted.py:8: error: Incompatible types in assignment" in out


def test_the_fuzzer_reports_a_crash(tmp_path, run_check):
    need("clang")
    copy(tmp_path, "tests/fuzz", "hv/include", "hv/internal", "hv/arch/x86_64/include", "hv/lib/include",
         "hv/xsm/acm_policy.c",
         "hv/xsm/acm_policy.h", "tools/moat", "tests/data/policies", "docs/examples/policies")
    parser = tmp_path / "hv" / "xsm" / "acm_policy.c"
    text = parser.read_text()
    head = "int acm_policy_parse(const void *blob, size_t size, struct acm_policy_view *v,\n"
    head += "                     struct acm_policy_error *err)\n{\n"
    assert head in text
    # Every seed is a real policy: its policy_version (bytes 4-7, big-endian) is 4.
    parser.write_text(text.replace(head, head + "    if (size > 8 && ((const uint8_t *)blob)[7] == 4)\n"
                                                "        __builtin_trap();\n"))
    status, out, counts = run_check(tmp_path, "--only", "fuzz", "--fuzz-seconds", "5")
    assert status == 1, out
    assert counts == {"libfuzzer": 1}, out
    assert "crash input: build/fuzz/artifacts/crash-" in out


def test_unknown_analyzer_is_a_usage_error(moat_cli):
    result = moat_cli("check", "--only", "lint")
    assert result.returncode == 3
    assert "unknown analyzer lint" in result.stderr


def test_list_names_every_analyzer(moat_cli):
    result = moat_cli("check", "--list")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == [a.key for a in check.ANALYZERS]


@pytest.mark.parametrize(("lines", "want"), [
    (["hv/core/a.c:3:5: error: unused variable 'x' [-Werror=unused-variable]"],
     ["hv/core/a.c:3:5: unused variable 'x' [-Werror=unused-variable]"]),
    (["hv/core/a.c:3:5: error: x", "hv/core/a.c:3:5: error: x"], ["hv/core/a.c:3:5: x"]),
    (["hv/a.c: In function 'f':", "    9 |     return *p;", "cc1: all warnings being treated as errors",
      "scons: *** [build/x.o] Error 1"], []),
    (["/usr/bin/ld: build/x.o: in function `f':", "clang: warning: argument unused during compilation: '-no-pie'"],
     ["/usr/bin/ld: build/x.o: in function `f':"]),
])
def test_compiler_findings(lines, want):
    assert check.compiler_findings(lines) == want


# A compiler writes a diagnostic to stderr in pieces, and a parallel build's progress line lands on
# stdout in between (seen in CI: "hv/core/planted.c:7:6CC build/.../sha256.o" then ": error: ...").
INTERLEAVED = (
    "import sys\n"
    "sys.stderr.write('hv/core/a.c:7:6'); sys.stderr.flush()\n"
    "sys.stdout.write('CC build/check/clang/obj/hv/lib/sha256.o\\n'); sys.stdout.flush()\n"
    "sys.stderr.write(': error: stack frame size (4104) exceeds limit (2048)\\n'); sys.stderr.flush()\n"
    "sys.exit(2)\n"
)


def test_a_diagnostic_split_by_a_progress_line_is_still_found(tmp_path):
    ctx = check.Context(root=tmp_path, jobs=2, fuzz_seconds=0, log_dir=tmp_path)
    result = check.Result("clang", "clang")
    status, lines = check._run(ctx, result, [sys.executable, "-c", INTERLEAVED], split=True)
    assert status == 2
    assert check.compiler_findings(lines) == ["hv/core/a.c:7:6: stack frame size (4104) exceeds limit (2048)"]
    log = (tmp_path / "clang.log").read_text()
    assert "CC build/check/clang/obj/hv/lib/sha256.o" in log and "exceeds limit" in log


def test_select():
    assert [a.key for a in check.select("ruff,mypy", None)] == ["ruff", "mypy"]
    assert "fuzz" not in [a.key for a in check.select(None, "fuzz")]


def test_scan_build_repeats_only_when_its_sources_change_and_the_analyzers_find_a_null_dereference(
        tmp_path, run_check):
    """scan-build's clean run is remembered and not repeated while what it reads is unchanged; a
    change runs it again, and a run with a finding is never remembered as clean.

    The change plants a NULL dereference (planted2.c, which compiles) that both analyzers find and
    neither compiler does. gcc with gcc -fanalyzer, and clang with scan-build, build once when
    both run (check.SHARED_BUILD), and each still reports its own: the big frame (planted.c) is the
    compilers' finding alone. (One test: the run after the change is the one with all four, so that
    scan-build builds the planted tree three times, not four.)"""
    need("gcc", "clang", "scan-build")
    root = c_tree(tmp_path, "int planted(int x);\nint planted(int x) { return x; }\n")
    status, out, counts = run_check(root, "--only", "scan-build")
    assert (status, counts) == (0, {"scan-build": 0}), out
    assert "not repeated" not in out
    status, out, counts = run_check(root, "--only", "scan-build")
    assert (status, counts) == (0, {"scan-build": 0}), out
    assert "sources unchanged since its last clean run: not repeated" in out

    (root / "hv" / "core" / "planted.c").write_text(planted_c(BIG_FRAME))
    (root / "hv" / "core" / "planted2.c").write_text(
        "// SPDX-License-Identifier: MIT\n" + NULL_AFTER_CHECK.replace("planted", "planted2"))
    status, out, _ = run_check(root, "--only", "gcc,clang,gcc-analyzer,scan-build")
    assert status == 1, out
    assert "not repeated" not in out
    assert "gcc in gcc-analyzer's build" in out and "clang in scan-build's build" in out, out
    sections = {m["title"]: m["body"] for m in re.finditer(r"^moat check: (?P<title>[^:]+): \d+ findings?:\n"
                                                              r"(?P<body>(?:  .*\n)+)", out, re.M)}
    frame = r"hv/core/planted\.c:\d+:\d+: (the frame size of \d+ bytes is larger than 2048|stack frame size)"
    assert re.search(frame, sections["gcc"]) and re.search(frame, sections["clang"]), out
    assert "planted2" not in sections["gcc"] + sections["clang"], out
    assert re.search(r"hv/core/planted2\.c:\d+:\d+: .*NULL", sections["gcc -fanalyzer"]), out
    assert re.search(r"hv/core/planted2\.c:\d+:\d+: .*null pointer", sections["scan-build"]), out
    assert "frame" not in sections["gcc -fanalyzer"] + sections["scan-build"], out

    # A finding is never remembered as clean. (Alone, scan-build reports clang's errors too: the frame.)
    status, out, counts = run_check(root, "--only", "scan-build")
    assert (status, counts) == (1, {"scan-build": 2}), out
    assert "not repeated" not in out and re.search(r"hv/core/planted2\.c:\d+:\d+: .*null pointer", out), out


def test_the_cost_order_names_every_analyzer_once():
    """`moat check` starts its analyzers in check.COST_ORDER; one left out of it would never run."""
    assert sorted(check.COST_ORDER) == sorted(a.key for a in check.ANALYZERS)
    assert all(builder in check.COST_ORDER and key in check.COST_ORDER for key, builder in check.SHARED_BUILD.items())
