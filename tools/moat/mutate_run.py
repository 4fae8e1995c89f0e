# SPDX-License-Identifier: MIT
"""Run mutants: build each in a worker's copy of the tree and run the tests that cover it.

A worker is a copy of the repository (sources and build/, timestamps kept, so SCons finds it up to
date) under build/mutate/work-<n> (or --work DIR/work-<n>; the copy leaves that directory out
wherever it is; an earlier run's copy there is brought up to date, not made again). For each
mutant it writes the mutated file, rebuilds the hypervisor and the host programs (`scons build/hv
build/host`: only the changed file recompiles), and runs pytest there (MOAT_ROOT=the copy, -x,
fastest tests first) on:
- the boot tests whose boots ran one of the mutated lines (build/coverage/tests.json, from the
  last `moat coverage`), and
- the host tests of the host programs built from the mutated file (tests/host: their DWARF names
  the sources; a test file that names the program uses it).
A failing test kills the mutant; so does running out of time (a hang is a bug the tests caught).
A mutant that does not compile is "not built" and counts nowhere (unless nothing has been built in
that copy yet and the unmutated copy does not build either: the run stops); one that no test runs
survives.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moat.commands.test import pytest_env
from moat.errors import UserError
from moat.mutate import Equivalent, Mutant

BUILD_TARGETS = ("build/hv", "build/host")
# Not copied into a worker: version control, the venv, and run outputs that the copy never needs.
# build/pycache is the tree's compiled Python: a worker's pytest keeps using the tree's (Worker._pytest),
# and it was two thirds of the files a copy made (839 of 1,265 under build/). build/check and
# build/fuzz are `moat check`'s builds, build/mypy-cache its mypy's; the rest are reports and logs.
_SKIP_TOP = {".git", ".venv", ".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache"}
_SKIP_BUILD = {"mutate", "coverage", "test-logs", "test-iso", "moat.iso", "run-iso", "pycache", "check", "fuzz",
               "mypy-cache", "test-results", "bench-logs", "covert-logs", "noninterference-logs", "soak.log"}
KILLED, SURVIVED, EQUIVALENT, NOT_BUILT, ERROR = "killed", "survived", "equivalent", "not_built", "error"


@dataclass
class Result:
    mutant: Mutant
    status: str
    tests: list[str] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""
    diff: str = ""


def check_work_dir(root: Path, work: Path) -> None:
    """Refuse a work directory the workers' copies cannot go in: the tree itself or one that holds
    it (a worker's copy replaces work/work-<n>, which could be the tree), or a file. Anywhere else
    is fine, inside the tree too: the copies leave the work directory out."""
    tree, where = root.resolve(), work.resolve()
    if where == tree or where in tree.parents:
        raise UserError(f"--work {work}: the work directory {'is' if where == tree else 'holds'} the tree "
                        f"being mutated ({tree}); choose a directory for the copies, such as "
                        f"{tree / 'build' / 'mutate'} (the default) or one outside the tree")
    if where.exists() and not where.is_dir():
        raise UserError(f"--work {work}: not a directory")


def copy_tree(root: Path, dest: Path, work: Path | None = None) -> None:
    """A worker's copy in dest: sources and build outputs with their timestamps.

    work is the directory that holds dest and the other workers' copies (dest itself if not
    given). It is never copied, wherever it is in the tree: a copy of it would hold the copy being
    made and recurse without end (and the other workers' copies are not the sources).

    A dest left by an earlier run (build/mutate/work-N) is brought up to date instead of being
    deleted and copied again: what a fresh copy would not hold is deleted, and a file is copied
    again unless its size, modification time and permissions are its source's (rsync's quick
    check: the copy keeps timestamps, and whatever a run writes into it, a mutant, its build, a
    restored original, gets the time it was written). Copying the tree writes some 1,300 files,
    most of its CPU the file system's; a run changes a few (the mutated file, what its build made).
    """
    tree, target = root.resolve(), dest.resolve()
    if target == tree or target in tree.parents:
        # Replacing dest would delete the tree.
        raise UserError(f"{dest}: a worker's copy cannot go in the tree being copied ({tree}) or above it")
    # Paths joined from real paths are real (symbolic links below the top are copied as links and
    # not entered), so comparing them with these finds the work directory at any depth.
    skip = {target, (work if work is not None else dest).resolve()}

    def picked(directory: Path, leave_out: set[str]) -> dict[str, Path]:
        # What the copy of a directory holds. At the top and in build/, a linked entry is copied
        # from where it leads, so that the paths inside are real too.
        out = {}
        for entry in directory.iterdir():
            real = entry.resolve()
            if entry.name not in leave_out and real not in skip:
                out[entry.name] = real
        return out

    def below(directory: Path) -> dict[str, Path]:
        return {e.name: Path(e.path) for e in os.scandir(directory) if Path(e.path) not in skip}

    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        dest.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    _sync_dir(picked(tree, _SKIP_TOP), dest, below, {"build": lambda d: picked(d, _SKIP_BUILD)})


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _sync_dir(sources: dict[str, Path], dest: Path, below: Callable[[Path], dict[str, Path]],
              pick: dict[str, Callable[[Path], dict[str, Path]]] | None = None) -> None:
    """Make the directory dest hold exactly `sources` (name -> the path to copy it from), each with
    its timestamps and permissions. What a subdirectory's copy holds is below(source), or for the
    names in pick, pick[name](source)."""
    have = {e.name: e for e in os.scandir(dest)}
    for name in have.keys() - sources.keys():
        _remove(dest / name)
    for name, src in sources.items():
        d = dest / name
        st = src.lstat()
        old = have.get(name)
        if stat.S_ISLNK(st.st_mode):  # below the top: copied as a link, never entered
            link = os.readlink(src)
            if old is not None and old.is_symlink() and os.readlink(d) == link:
                continue
            if old is not None:
                _remove(d)
            os.symlink(link, d)
            shutil.copystat(src, d, follow_symlinks=False)
        elif stat.S_ISDIR(st.st_mode):
            if old is not None and (old.is_symlink() or not old.is_dir()):
                _remove(d)
                old = None
            if old is None:
                d.mkdir()
            _sync_dir((pick or {}).get(name, below)(src), d, below)
            now = d.stat()
            if (now.st_mtime_ns, now.st_mode) != (st.st_mtime_ns, st.st_mode):
                shutil.copystat(src, d)
        else:
            if old is not None:
                if not old.is_symlink() and old.is_file():
                    o = old.stat()
                    if (o.st_size, o.st_mtime_ns, o.st_mode) == (st.st_size, st.st_mtime_ns, st.st_mode):
                        continue
                # A new file, not the old one written over: a program of the old copy may still run.
                _remove(d)
            shutil.copy2(src, d)


def host_tests(root: Path) -> dict[str, list[str]]:
    """hv/ source -> the test files that run a host program compiled from it."""
    from elftools.elf.elffile import ELFFile

    host = root / "build" / "host"
    sources_of: dict[str, set[str]] = {}
    if host.is_dir():
        for prog in sorted(host.iterdir()):
            if not prog.is_file() or prog.suffix or not os.access(prog, os.X_OK):
                continue
            try:
                with prog.open("rb") as f:
                    ef = ELFFile(f)
                    if not ef.has_dwarf_info():
                        continue
                    names = set()
                    for cu in ef.get_dwarf_info().iter_CUs():
                        top = cu.get_top_DIE()
                        name = top.attributes.get("DW_AT_name")
                        if name is not None:
                            p = Path(name.value.decode())
                            names.add(os.path.relpath(p, root) if p.is_absolute() else str(p))
                    sources_of[prog.name] = names
            except (OSError, ValueError):
                continue
    tests = sorted((root / "tests").rglob("*.py"))
    texts = {t: t.read_text(encoding="utf-8", errors="replace") for t in tests}  # Path -> text
    out: dict[str, set[str]] = defaultdict(set)
    for program, sources in sources_of.items():
        pattern = re.compile(rf"\b{re.escape(program)}\b")
        users = [path for path, text in texts.items() if pattern.search(text)]
        for src in sources:
            if src.startswith("hv/"):
                for t in users:
                    rel = t.relative_to(root)
                    # A conftest's users are its directory's tests.
                    out[src].add(str(rel.parent) if t.name == "conftest.py" else str(rel))
    return {k: sorted(v) for k, v in out.items()}


def descendants(pid: int) -> list[int]:
    """Every process below pid (QEMU runs in a session of its own, so a process group is not enough)."""
    children: dict[int, list[int]] = defaultdict(list)
    for proc in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = proc.read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(proc.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL pid and everything it started, by process id."""
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


def load_test_map(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    tests: dict[str, dict[str, Any]] = data.get("tests", {})
    return tests


def load_coverable(path: Path) -> dict[str, set[int]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {f: set(lines) for f, lines in data.get("coverable", {}).items()}


def covering_tests(m: Mutant, test_map: dict[str, dict[str, Any]],
                   coverable: dict[str, set[int]] | None = None) -> list[str]:
    """Boot tests whose boots ran one of the mutant's lines, fastest first. A line that has no
    instructions of its own (the compiler merged it into another, e.g. a `return 0;` shared by
    several paths) takes the tests that ran any line of its function, and a function none of
    whose lines has any (inlined and merged into its callers) the tests that ran a call of it. A
    mutant in an inline function takes the tests that ran any line of that function."""
    def running(lines: set[int]) -> list[str]:
        hits = [(info.get("seconds", 0.0), test) for test, info in test_map.items()
                if not test.startswith("(") and lines & set(info.get("lines", {}).get(m.file, ()))]
        return [t for _, t in sorted(hits)]

    own = set(range(m.line, m.last_line + 1))
    if m.inline and m.function_lines != (0, 0):
        # Each inlined copy is compiled into its caller, and the compiler may put a line's
        # instructions on a neighbouring line in one copy and not in another: a boot that ran
        # the mutated expression can show only its function's other lines. The function is the
        # unit (raise_on's `port / 64` was left out of the tests of the send that runs it).
        first, last = m.function_lines
        own = set(range(first, last + 1))
    tests = running(own)
    lines_with_code = coverable.get(m.file, set()) if coverable is not None else set()
    if tests or coverable is None or m.function_lines == (0, 0) or own & lines_with_code:
        return tests
    first, last = m.function_lines
    function = set(range(first, last + 1))
    tests = running(function)
    if tests or function & lines_with_code:
        return tests
    # No line of the function has code of its own: it was inlined into its callers and merged
    # with their code (a one-line static function), so the tests that ran its callers' calls
    # ran it.
    return running(set(m.call_lines))


def killer_first(tests: list[str], killer: str | None) -> list[str]:
    """The order to run a mutant's tests in: first the test that killed the last mutant of the
    same function (a neighbour's killer usually kills this one too, and `-x` stops there), then
    the others, fastest first as given. A killer that is not among the tests changes nothing."""
    if killer is None or killer not in tests:
        return list(tests)
    return [killer, *(t for t in tests if t != killer)]


def killer_of(result: Result) -> str | None:
    """The test named as the one that killed the mutant (`killed by <node id>`), if any."""
    if result.status != KILLED or not result.detail.startswith("killed by "):
        return None
    return result.detail[len("killed by "):]


class Worker:
    def __init__(self, root: Path, dest: Path, work: Path | None = None) -> None:
        self.root = root
        self.dir = dest
        copy_tree(root, dest, work)
        # Whether a build of this copy has succeeded: until one has, a mutant that does not build
        # may be an unmutated tree that does not build (checked then, not by a build before the
        # first mutant: a build of the unmutated copy is SCons's whole scan, and it rarely fails).
        self.builds = False

    def _build(self) -> int:
        # --implicit-cache: each object's #includes as the last build scanned them (in the copy's
        # .sconsign, the tree's to begin with), instead of SCons scanning every source again at
        # every build: a fifth of a mutant's build. A changed file, a mutant's or a header one
        # includes, leaves its objects out of date, and SCons scans those again; what this trusts
        # is only that an unchanged file includes what it did, and a mutant never touches an
        # #include (preprocessor lines are not mutated).
        scons = [sys.executable, "-m", "SCons", "-C", str(self.dir), "-Q", "--implicit-cache", *BUILD_TARGETS]
        return subprocess.call(scons, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir)

    def run(self, m: Mutant, tests: list[str], timeout: float, order: list[str] | None = None) -> Result:
        """Build m and run its tests (in `order`, the same tests, when given): the result records
        `tests`, so that the journal's key does not depend on the order they ran in."""
        path = self.dir / m.file
        original = (self.root / m.file).read_bytes()
        start = time.monotonic()
        try:
            path.write_bytes(m.apply(original))
            if self._build() != 0:
                if not self.builds:
                    path.write_bytes(original)
                    if self._build() != 0:
                        raise RuntimeError(f"the unmutated copy in {self.dir} does not build")
                    self.builds = True
                return Result(m, NOT_BUILT, tests, time.monotonic() - start, "the mutant does not compile")
            self.builds = True
            if not tests:
                return Result(m, SURVIVED, tests, time.monotonic() - start, "no test runs this line")
            status, detail = self._pytest(order or tests, timeout)
            return Result(m, status, tests, time.monotonic() - start, detail)
        finally:
            path.write_bytes(original)

    def _pytest(self, tests: list[str], timeout: float) -> tuple[str, str]:
        # `moat test`'s environment: compiled Python under the tree's build/pycache/ (unless a
        # prefix is set), written even under PYTHONDONTWRITEBYTECODE. Without it every mutant's
        # pytest compiles and assertion-rewrites all it imports again (2.8 s of CPU against 1.3);
        # with it only the copy's own files compile, once per copy path (a copy keeps mtimes).
        env = pytest_env(self.root)
        env["MOAT_ROOT"] = str(self.dir)
        for var in ("MOAT_COVERAGE", "MOAT_COVERAGE_TEST", "PYTEST_XDIST_WORKER"):
            env.pop(var, None)
        cmd = [sys.executable, "-m", "pytest", f"--rootdir={self.dir}", "-n", "0", "-x", "-q", "-p",
               "no:cacheprovider", "--tb=no", "-rf", *tests]
        proc = subprocess.Popen(cmd, cwd=self.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.communicate()
            return KILLED, f"timeout after {timeout:.0f} s"
        except BaseException:
            kill_tree(proc.pid)  # interrupted: leave no pytest or QEMU behind
            proc.communicate()
            raise
        text = out.decode(errors="replace")
        if proc.returncode == 0:
            return SURVIVED, f"{len(tests)} tests passed"
        if proc.returncode == 1:
            failed = re.search(r"^FAILED (\S+)", text, re.M)
            return KILLED, f"killed by {failed[1]}" if failed else "a test failed"
        return ERROR, f"pytest exit status {proc.returncode}: {text.strip().splitlines()[-1:] or ''}"


def run_all(root: Path, work: Path, todo: Sequence[tuple[Mutant, list[str], float]], jobs: int,
            progress: Callable[[Result, int, int], None] | None = None) -> list[Result]:
    """Run every (mutant, tests, timeout) on `jobs` workers; results in the order given."""
    check_work_dir(root, work)
    with work_lock(work):
        return _run_all(root, work, todo, jobs, progress)


@contextlib.contextmanager
def work_lock(work: Path) -> Iterator[None]:
    """Hold work/.lock for the run. Two runs in one work directory would write their mutants
    into the same copies (work-0 is every run's first worker) and each report the other's
    outcomes; the second is refused instead. The lock goes with the process, however it ends."""
    work.mkdir(parents=True, exist_ok=True)
    fd = os.open(work / ".lock", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another moat mutate is running in {work}: wait for it, or give this run "
                            "a work directory of its own (--work DIR)") from None
        yield
    finally:
        os.close(fd)


def _run_all(root: Path, work: Path, todo: Sequence[tuple[Mutant, list[str], float]], jobs: int,
             progress: Callable[[Result, int, int], None] | None) -> list[Result]:
    jobs = max(1, min(jobs, len(todo))) if todo else 1
    workers: queue.Queue[Worker] = queue.Queue()
    for n in range(jobs):
        workers.put(Worker(root, work / f"work-{n}", work))
    results: list[Result | None] = [None] * len(todo)
    done = 0
    killers: dict[tuple[str, str], str] = {}  # (file, function) -> the test that killed its last mutant

    def one(i: int) -> None:
        nonlocal done
        m, tests, timeout = todo[i]
        w = workers.get()
        try:
            r = w.run(m, tests, timeout, killer_first(tests, killers.get((m.file, m.function))))
        finally:
            workers.put(w)
        if (killer := killer_of(r)) is not None:
            killers[(m.file, m.function)] = killer
        r.diff = m.diff((root / m.file).read_bytes())
        results[i] = r
        done += 1
        if progress is not None:
            progress(r, done, len(todo))

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        list(pool.map(one, range(len(todo))))
    except BaseException:
        # Interrupted: the workers' pytest and QEMU processes run in sessions of their own and
        # do not see the terminal's signal; end them so the threads return.
        for child in descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [r for r in results if r is not None]


def report(results: Iterable[Result], equivalents: dict[str, Equivalent]) -> dict[str, Any]:
    """The JSON of `moat mutate --json`."""
    files: dict[str, dict[str, Any]] = {}
    totals: dict[str, int] = defaultdict(int)
    for r in results:
        f = files.setdefault(r.mutant.file, {"killed": 0, "survived": 0, "equivalent": 0, "not_built": 0,
                                             "errors": 0, "survivors": [], "equivalents": []})
        status = r.status
        entry = {"id": r.mutant.id, "line": r.mutant.line, "operator": r.mutant.operator,
                 "description": r.mutant.description, "diff": r.diff, "detail": r.detail}
        if status == SURVIVED and r.mutant.id in equivalents:
            status = EQUIVALENT
            entry["reason"] = equivalents[r.mutant.id].reason
        key = {KILLED: "killed", SURVIVED: "survived", EQUIVALENT: "equivalent", NOT_BUILT: "not_built",
               ERROR: "errors"}[status]
        f[key] += 1
        totals[key] += 1
        if status == SURVIVED:
            f["survivors"].append(entry)
        elif status == EQUIVALENT:
            f["equivalents"].append(entry)
    for f in files.values():
        judged = f["killed"] + f["survived"]
        f["kill_rate_percent"] = round(100.0 * f["killed"] / judged, 2) if judged else None
    judged = totals["killed"] + totals["survived"]
    return {"kill_rate_percent": round(100.0 * totals["killed"] / judged, 2) if judged else None,
            "killed": totals["killed"], "survived": totals["survived"], "equivalent": totals["equivalent"],
            "not_built": totals["not_built"], "errors": totals["errors"], "files": dict(sorted(files.items()))}
