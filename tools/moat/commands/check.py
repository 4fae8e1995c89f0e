# SPDX-License-Identifier: MIT
"""`moat check`: both compilers, three static analyzers, ruff, mypy and a timed fuzz run.

    gcc, clang       hv/ and the guest library (images/lib) built with each compiler, every
                     warning an error, no stack frame over 2 KiB (`scons check=gcc|clang`)
    gcc -fanalyzer   the same sources through gcc's static analyzer (`scons check=gcc-analyzer`)
    scan-build       the same sources through clang's static analyzer, rebuilt from scratch
    cppcheck         hv/, the guest library, the host test programs and moat coverage's QEMU
                     plugin (tools/qemu-plugin), one program at a time;
                     suppressions only inline (`/* cppcheck-suppress ID ; why */`), each with
                     its reason (one without counts as a finding); incremental (its build dir
                     under build/check/cppcheck/ keeps each unchanged file's findings)
    ruff, mypy       all Python of tools/ and tests/, with ruff.toml and mypy.ini at the root
    libfuzzer        tests/fuzz/run.sh: the hypervisor's policy parser under libFuzzer with
                     ASan and UBSan for --fuzz-seconds (default 20)

gcc and gcc -fanalyzer, and clang and scan-build, build once when both of a pair run (SHARED_BUILD).
Every analyzer runs in its own process, several at once; each one's whole output is kept in
build/check/logs/NAME.log. The report names every analyzer with its finding count; the exit
status is 0 when every count is 0, 1 otherwise, 3 when a tool is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from moat import include_roots
from moat.building import scons_program
from moat.digest import inputs_digest
from moat.errors import UserError
from moat.include_roots import include_flags
from moat.paths import repo_root

DEFAULT_FUZZ_SECONDS = 20
SHOWN_PER_ANALYZER = 30  # findings printed per analyzer; the log has them all

# gcc and clang: "file:line[:col]: [fatal ]error|warning: message"
_DIAGNOSTIC = re.compile(r"^(?P<where>[^\s:][^:]*:\d+(?::\d+)?): (?:fatal )?(?:error|warning): (?P<msg>.*)$")
# The linker and the compiler drivers: "ld: ...", "clang: error: ...", "collect2: error: ..."
_TOOL_ERROR = re.compile(r"^(?:\S*/)?(?:ld|collect2|clang|gcc)(?:-\d+)?: (?:error: )?(?P<msg>.*)$")
_SCAN_BUILD_BUGS = re.compile(r"^scan-build: (\d+) bugs? found")
# clang's analyzer ends its diagnostics with the checker's name ("[core.NullDereference]"), the
# compiler with a warning flag ("[-Werror,-Wframe-larger-than]")
_CLANG_CHECKER = re.compile(r"\[(?!-W)[A-Za-z]+(?:\.[A-Za-z0-9]+)+\]$")
# cppcheck's --template below
_CPPCHECK_TEMPLATE = "{file}:{line}:{column}: {severity}: {message} [{id}]"
_CPPCHECK = re.compile(r"^\S+:\d+:\d+: \w+: .* \[\w+\]$")
_CPPCHECK_SUPPRESS = re.compile(r"cppcheck-suppress(?:-\w+)?\s+(?P<rest>.*)")
# ruff's concise format: "file:line:col: CODE message"
_RUFF = re.compile(r"^\S+:\d+:\d+: [A-Z]+\d+ ")
_MYPY = re.compile(r"^\S+:\d+(?::\d+)?: error: ")
_FUZZ_SUMMARY = re.compile(r"^fuzz: runs=(?P<runs>\d+) crashes=(?P<crashes>\d+) \(exit (?P<rc>-?\d+)")


@dataclass
class Context:
    root: Path
    jobs: int
    fuzz_seconds: int
    log_dir: Path


@dataclass
class Result:
    key: str
    title: str
    findings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""  # what it covered, e.g. the fuzzer's run count
    log: Path | None = None
    # The result of an analyzer whose work this one's build does too (SHARED_BUILD), when both run.
    companion: Result | None = None


@dataclass(frozen=True)
class Analyzer:
    key: str                         # the name for --only/--skip
    title: str                       # the name in the report
    programs: tuple[str, ...]        # what must be installed
    run: Callable[[Context, Result], None]


def _run(ctx: Context, result: Result, argv: Sequence[str], *, env: dict[str, str] | None = None,
         append: bool = False, split: bool = False) -> tuple[int, list[str]]:
    """Run argv in the repository root; keep stdout+stderr in the analyzer's log; return (status, lines).

    split: read stderr apart from stdout (its lines first). A parallel build's progress lines on
    stdout can otherwise land in the middle of a compiler's diagnostic on stderr ("x.c:7:6CC y.o"),
    which then no longer parses."""
    result.log = ctx.log_dir / f"{result.key}.log"
    proc = subprocess.run(list(argv), cwd=ctx.root, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE if split else subprocess.STDOUT,
                          text=True, errors="replace", env=env, check=False)
    err = proc.stderr or ""
    with result.log.open("a" if append else "w", encoding="utf-8") as log:
        log.write(f"$ {' '.join(argv)}\n{proc.stdout}{err}(exit status {proc.returncode})\n")
    return proc.returncode, err.splitlines() + proc.stdout.splitlines()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def compiler_findings(lines: Sequence[str]) -> list[str]:
    """The errors and warnings of gcc, clang, their analyzers and the linker, each once."""
    found = []
    for line in lines:
        m = _DIAGNOSTIC.match(line)
        if m:
            found.append(f"{m['where']}: {m['msg']}")
        elif (m := _TOOL_ERROR.match(line)) and "warning: argument unused" not in line:
            found.append(line.strip())
    return _unique(found)


def is_gcc_analyzer_finding(finding: str) -> bool:
    """gcc tags its analyzer's diagnostics [-Wanalyzer-NAME], or [-Werror=analyzer-NAME]."""
    return "[-Wanalyzer-" in finding or "[-Werror=analyzer-" in finding


def _scons_check(name: str) -> Callable[[Context, Result], None]:
    def run(ctx: Context, result: Result) -> None:
        status, lines = _run(ctx, result, [scons_program(), "-C", str(ctx.root), "-Q", "-k", f"-j{ctx.jobs}",
                                           f"check={name}"], split=True)
        result.findings = compiler_findings(lines)
        if result.companion is not None:  # gcc's own diagnostics in gcc -fanalyzer's build are the gcc check's
            result.companion.findings = [f for f in result.findings if not is_gcc_analyzer_finding(f)]
            result.findings = [f for f in result.findings if is_gcc_analyzer_finding(f)]
        failed = result.companion if result.companion is not None else result
        if status != 0 and not result.findings and not failed.findings:
            failed.findings = [f"scons check={name} failed (exit status {status}) without a diagnostic: "
                               f"see {result.log}"]
    return run


# What scan-build reads: a clean run over exactly these inputs is not repeated (the analyzer is
# deterministic); build/check/scan-build.clean holds their digest.
SCAN_BUILD_INPUTS = ("SConstruct", "hv", "images/SConscript", "images/lib")


def _scan_build(ctx: Context, result: Result) -> None:
    out = ctx.root / "build" / "check" / "scan-build"
    stamp = ctx.root / "build" / "check" / "scan-build.clean"
    digest = inputs_digest(ctx.root, SCAN_BUILD_INPUTS, ["clang", "--version"])
    if stamp.is_file() and stamp.read_text().strip() == digest:
        result.note = "sources unchanged since its last clean run: not repeated"
        if result.companion is not None:  # the clang check then builds on its own
            result.companion.note = "scan-build not repeated: built on its own"
            _scons_check("clang")(ctx, result.companion)
        return
    stamp.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)  # the analyzer only speaks while compiling: rebuild all
    status, lines = _run(ctx, result, ["scan-build", "--use-cc=clang", "--status-bugs", "-o", str(out / "report"),
                                       scons_program(), "-C", str(ctx.root), "-Q", "-k", f"-j{ctx.jobs}",
                                       "check=scan-build"])
    compiled = compiler_findings(lines)
    bugs = max((int(m[1]) for line in lines if (m := _SCAN_BUILD_BUGS.match(line))), default=0)
    result.findings = compiled
    if result.companion is not None:
        # The compiler's own diagnostics are the clang check's: the wrapper compiled every file
        # with clang and the clang check's flags. (A file that does not compile is not analysed.)
        result.companion.findings = [f for f in compiled if not _CLANG_CHECKER.search(f)]
        result.companion.log = result.log
        result.findings = [f for f in compiled if _CLANG_CHECKER.search(f)]
    if bugs > len(result.findings):
        result.findings.append(f"scan-build counted {bugs} bugs: see the report under {out / 'report'}")
    if status != 0 and not result.findings and not compiled:
        result.findings = [f"scan-build failed (exit status {status}): see {result.log}"]
    if not result.findings and not compiled:
        stamp.write_text(digest + "\n")


# cppcheck looks at one program at a time (across files it assumes one program): the hypervisor,
# the guest library, and the host programs that test the hypervisor's policy parser.
CPPCHECK_PROGRAMS = (
    ("hypervisor", ["-D__x86_64__", "-DCONFIG_SELFTEST", *include_flags(include_roots.HYPERVISOR)], ["hv"]),
    ("guest library", ["-D__x86_64__", *include_flags(include_roots.GUEST)], ["images/lib", "hv/lib"]),
    ("host programs", include_flags(include_roots.HOST), ["tests/host", "tests/fuzz"]),
    ("coverage plugin", ["-D_POSIX_C_SOURCE=200809L"], ["tools/qemu-plugin"]),
)
C_SOURCE_DIRS = ("hv", "images", "tests/host", "tests/fuzz", "tools/qemu-plugin")


def unexplained_suppressions(root: Path) -> list[str]:
    """Inline cppcheck suppressions without a reason after ' ; ' (the rule is: say why)."""
    found = []
    for top in C_SOURCE_DIRS:
        for path in sorted((root / top).rglob("*")):
            if path.suffix not in (".c", ".h") or not path.is_file():
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = _CPPCHECK_SUPPRESS.search(line)
                if m is None:
                    continue
                _, sep, reason = m["rest"].partition(";")
                reason = reason.replace("*/", "").strip()
                if not sep or len(reason.split()) < 2:
                    found.append(f"{path.relative_to(root)}:{n}: cppcheck suppression without a reason "
                                 "(write `cppcheck-suppress ID ; why`)")
    return found


def _cppcheck(ctx: Context, result: Result) -> None:
    findings = []
    for i, (program, options, paths) in enumerate(CPPCHECK_PROGRAMS):
        present = [p for p in paths if (ctx.root / p).is_dir()]
        if not present:
            continue
        # cppcheck's own incremental mode: per source file, the results of the last run keyed by a
        # checksum of the preprocessed file and the options; an unchanged file's findings are
        # reported again from there instead of being analysed again (a changed header changes the
        # checksum of every file that includes it). One directory per program: their options differ.
        build_dir = ctx.root / "build" / "check" / "cppcheck" / f"program{i}"
        build_dir.mkdir(parents=True, exist_ok=True)
        status, lines = _run(ctx, result, ["cppcheck", "--std=c11", "--enable=warning,style,performance,portability",
                                           "--inline-suppr", "--error-exitcode=1", "-q",
                                           f"--cppcheck-build-dir={build_dir}",
                                           f"--template={_CPPCHECK_TEMPLATE}", *options, *present], append=i > 0)
        hits = [line for line in lines if _CPPCHECK.match(line)]
        findings += hits
        if status != 0 and not hits:
            findings.append(f"cppcheck ({program}) failed (exit status {status}): see {result.log}")
    result.findings = _unique(findings) + unexplained_suppressions(ctx.root)


def _venv_program(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() else name


def _ruff(ctx: Context, result: Result) -> None:
    # A plain `ruff check` in the root: ruff.toml there says what to check and how.
    status, lines = _run(ctx, result, [_venv_program("ruff"), "check", "--no-cache", "--output-format", "concise"])
    result.findings = [line for line in lines if _RUFF.match(line)]
    if status != 0 and not result.findings:
        result.findings = [f"ruff failed (exit status {status}): see {result.log}"]


def _mypy(ctx: Context, result: Result) -> None:
    # A plain `mypy` in the root: mypy.ini there names the files and the flags.
    status, lines = _run(ctx, result, [sys.executable, "-m", "mypy", "--no-error-summary"])
    result.findings = [line for line in lines if _MYPY.match(line)]
    if status != 0 and not result.findings:
        result.findings = [f"mypy failed (exit status {status}): see {result.log}"]


def _fuzz(ctx: Context, result: Result) -> None:
    env = dict(os.environ, PYTHON=sys.executable, CLANG=os.environ.get("CLANG", "clang"))
    status, lines = _run(ctx, result, ["sh", str(ctx.root / "tests" / "fuzz" / "run.sh"), str(ctx.fuzz_seconds)],
                         env=env)
    summary = next((m for line in reversed(lines) if (m := _FUZZ_SUMMARY.match(line))), None)
    if summary is None:
        result.findings = compiler_findings(lines) or [
            f"the fuzzer did not build or run (exit status {status}): see {result.log}"]
        return
    runs, crashes = int(summary["runs"]), int(summary["crashes"])
    result.note = f"{runs} runs in {ctx.fuzz_seconds} s"
    artifacts = ctx.root / "build" / "fuzz" / "artifacts"
    result.findings = [f"crash input: {p.relative_to(ctx.root)}" for p in sorted(artifacts.glob("*"))][:crashes]
    if status != 0 and not result.findings:
        result.findings = [f"libFuzzer stopped with exit status {summary['rc']} (no crash file): see {result.log}"]


# An analyzer whose whole work another's build does as well, with the same flags on the same files:
# gcc -fanalyzer compiles every file as the gcc check does (its warnings, the frame-size limit, the
# link) and analyses it besides; scan-build's wrapper compiles every file with clang and the clang
# check's flags before it analyses it. When both of a pair run, the pair builds once (20 s of CPU
# each saved from a fresh tree) and each reports its own findings: gcc's analyzer-tagged
# diagnostics are gcc -fanalyzer's, the rest gcc's; the compiler's diagnostics in scan-build's
# output are clang's, its bug count scan-build's. Run alone, each builds on its own as before.
SHARED_BUILD = {"gcc": "gcc-analyzer", "clang": "scan-build"}

ANALYZERS = (
    Analyzer("gcc", "gcc", ("gcc",), _scons_check("gcc")),
    Analyzer("clang", "clang", ("clang",), _scons_check("clang")),
    Analyzer("gcc-analyzer", "gcc -fanalyzer", ("gcc",), _scons_check("gcc-analyzer")),
    Analyzer("scan-build", "scan-build", ("scan-build", "clang"), _scan_build),
    Analyzer("cppcheck", "cppcheck", ("cppcheck",), _cppcheck),
    Analyzer("ruff", "ruff", (), _ruff),
    Analyzer("mypy", "mypy", (), _mypy),
    Analyzer("fuzz", "libfuzzer", ("clang",), _fuzz),
)
# Costliest first, so that the short ones fill in around them while ctx.jobs analyzers run at once.
# CPU seconds of each from a fresh tree (docs/testing.md, fourteenth round): scan-build 222,
# gcc -fanalyzer 67, clang 21, gcc 20, cppcheck 19, mypy 17, ruff 0.4; the fuzzer runs for its
# fixed 20 s of wall time.
COST_ORDER = ("scan-build", "gcc-analyzer", "fuzz", "clang", "gcc", "cppcheck", "mypy", "ruff")
_PACKAGES = {"gcc": "gcc", "clang": "clang", "scan-build": "clang-tools", "cppcheck": "cppcheck"}


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = {a.key for a in ANALYZERS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"unknown analyzer {', '.join(unknown)}; the analyzers are {', '.join(sorted(known))}")
    return names


def select(only: str | None, skip: str | None) -> list[Analyzer]:
    chosen = set(_names(only)) if only else {a.key for a in ANALYZERS}
    chosen -= set(_names(skip)) if skip else set()
    return [a for a in ANALYZERS if a.key in chosen]


def _require_tools(analyzers: Sequence[Analyzer]) -> None:
    missing = sorted({p for a in analyzers for p in a.programs if shutil.which(p) is None})
    if missing:
        packages = " ".join(sorted({_PACKAGES.get(p, p) for p in missing}))
        raise UserError(f"not installed: {', '.join(missing)}; run ./moat (it installs them) or "
                        f"apt-get install {packages}")
    if any(a.key == "fuzz" for a in analyzers):
        runtime = subprocess.run(["clang", "-print-file-name=libclang_rt.fuzzer-x86_64.a"], capture_output=True,
                                 text=True, check=False).stdout.strip()
        if not os.path.isabs(runtime):
            raise UserError("clang's libFuzzer runtime is missing; run ./moat (it installs it) or "
                            "apt-get install libclang-rt-dev")
    if any(a.key == "mypy" for a in analyzers):
        probe = subprocess.run([sys.executable, "-c", "import mypy"], capture_output=True, check=False)
        if probe.returncode != 0:
            raise UserError("mypy is not installed next to this Python; run ./moat (it installs "
                            "tools/requirements.lock)")


def run_analyzers(ctx: Context, analyzers: Sequence[Analyzer]) -> list[Result]:
    """Run the analyzers, ctx.jobs at a time, longest first; results in the order of ANALYZERS."""
    ctx.log_dir.mkdir(parents=True, exist_ok=True)

    chosen = {a.key for a in analyzers}
    shared = {key: Result(key, next(a.title for a in analyzers if a.key == key))
              for key, builder in SHARED_BUILD.items() if key in chosen and builder in chosen}

    def one(a: Analyzer) -> list[Result]:
        result = Result(a.key, a.title)
        result.companion = next((shared[k] for k, builder in SHARED_BUILD.items() if builder == a.key and k in shared),
                                None)
        start = time.monotonic()
        a.run(ctx, result)
        result.seconds = time.monotonic() - start
        done = [result]
        if result.companion is not None:
            result.companion.seconds = result.seconds
            result.companion.note = result.companion.note or f"built once with {a.title}"
            done.append(result.companion)
        # Progress, as each one ends (the report on stdout comes when all have).
        for r in done:
            print(f"moat check: {r.title} done: {len(r.findings)} findings in {r.seconds:.0f} s",
                  file=sys.stderr, flush=True)
        return done

    ordered = sorted((a for a in analyzers if a.key not in shared), key=lambda a: COST_ORDER.index(a.key))
    print(f"moat check: running {', '.join(a.title for a in ordered)} ({ctx.jobs} at a time)"
          + "".join(f"; {key} in {SHARED_BUILD[key]}'s build" for key in shared), file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max_workers=max(1, ctx.jobs)) as pool:
        results = {r.key: r for done in pool.map(one, ordered) for r in done}
    return [results[a.key] for a in analyzers]


def report(results: Sequence[Result], seconds: float) -> int:
    """Print every analyzer's findings and count; return the exit status."""
    width = max(len(r.title) for r in results)
    for r in results:
        if not r.findings:
            continue
        print(f"moat check: {r.title}: {len(r.findings)} finding{'s' if len(r.findings) != 1 else ''}:")
        for line in r.findings[:SHOWN_PER_ANALYZER]:
            print(f"  {line}")
        if len(r.findings) > SHOWN_PER_ANALYZER:
            print(f"  ... {len(r.findings) - SHOWN_PER_ANALYZER} more in {r.log}")
    for r in results:
        note = f"  ({r.note})" if r.note else ""
        print(f"moat check: {r.title:<{width}} {len(r.findings):4d} findings  {r.seconds:6.1f} s{note}")
    total = sum(len(r.findings) for r in results)
    verdict = "clean" if total == 0 else "FAILED"
    print(f"moat check: {verdict}: {total} findings from {len(results)} analyzers in {seconds:.0f} s "
          f"(logs in build/check/logs/)", flush=True)
    return 0 if total == 0 else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check", help="both compilers, the static analyzers, ruff, mypy and a fuzz run; 1 on any finding",
        description="""\
Build hv/ and the guest library with gcc and clang (-Werror, -Wframe-larger-than=2048), run gcc
-fanalyzer, scan-build, cppcheck, ruff, mypy and a timed libFuzzer run of the policy parser, and
print each analyzer's finding count (docs/tools.md, `moat check`).

reads:  hv/, images/lib/, tests/host/, tests/fuzz/, tools/, tests/, ruff.toml, mypy.ini
writes: build/check/ (the builds, scan-build's reports, logs/NAME.log), build/fuzz/
""",
        epilog="exit status: 0 clean; 1 any finding; 3 a tool is missing or an option is wrong",
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    p.add_argument("--only", metavar="NAMES", help="comma-separated analyzers to run (see --list)")
    p.add_argument("--skip", metavar="NAMES", help="comma-separated analyzers not to run")
    p.add_argument("--fuzz-seconds", type=int, default=DEFAULT_FUZZ_SECONDS, metavar="S",
                   help=f"how long libFuzzer runs (default {DEFAULT_FUZZ_SECONDS})")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, metavar="N",
                   help="analyzers (and compiler jobs in each) at once (default: the CPU count)")
    p.add_argument("--list", action="store_true", help="list the analyzers and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    analyzers = select(args.only, args.skip)
    if args.list:
        for a in ANALYZERS:
            print(f"{a.key:<13} {a.title}")
        return 0
    if not analyzers:
        raise UserError("no analyzer left to run")
    if args.fuzz_seconds < 1:
        raise UserError("--fuzz-seconds must be at least 1")
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    _require_tools(analyzers)
    root = repo_root()
    ctx = Context(root=root, jobs=args.jobs, fuzz_seconds=args.fuzz_seconds,
                  log_dir=root / "build" / "check" / "logs")
    start = time.monotonic()
    results = run_analyzers(ctx, analyzers)
    return report(results, time.monotonic() - start)
