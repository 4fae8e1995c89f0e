# SPDX-License-Identifier: MIT
"""`moat test [--list] [PYTEST ARGS]`: build, then run pytest over tests/ in parallel."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from moat import building
from moat.paths import build_dir, repo_root

DESCRIPTION = """\
Build (one progress line), then run pytest over tests/ with -n auto (pytest-xdist) unless you
pass -n or select a single test, which then runs without parallel workers. --smp N boots every
test with N CPUs unless it names its own. Every other argument goes to pytest:
moat test tests/boot/test_banner.py -k cmdline

reads:  tests/, build/ (boot tests boot build/hv/*.bin and build/images/*.elf in QEMU)
writes: build/test-results/junit.xml (JUnit XML of the run, unless you pass --junitxml),
        build/test-logs/<test id>.log (the serial log of every boot)
"""

EPILOG = "exit status: pytest's (0 all passed, 1 some failed, 5 none collected); SCons's when the build fails"

JUNIT = Path("test-results") / "junit.xml"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("test", help="build, then run the tests (extra arguments go to pytest)",
                       usage="moat test [--list] [--no-build] [PYTEST ARGS...]", description=DESCRIPTION,
                       epilog=EPILOG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="list the tests (pytest --collect-only); build nothing")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.set_defaults(func=run, passthrough=True)


# pytest options whose next argument is a value, never a test path.
_VALUE_OPTIONS = {"-k", "-m", "-n", "-p", "-o", "-c", "-W", "--tb", "--maxfail",
                  "--numprocesses", "--dist", "--log-level", "--durations", "--junitxml", "--junit-xml",
                  "--smp"}


def _is_test_path(arg: str) -> bool:
    return not arg.startswith("-") and Path(arg.split("::", 1)[0]).exists()


def _user_paths(user: Sequence[str]) -> list[str]:
    found, previous = [], ""
    for arg in user:
        if previous not in _VALUE_OPTIONS and _is_test_path(arg):
            found.append(arg)
        previous = arg
    return found


def pytest_args(user: Sequence[str], root: Path, *, parallel: bool = True) -> list[str]:
    """pytest's arguments: user paths made absolute, tests/ when none, -n auto unless -n given."""
    args: list[str] = []
    have_paths = False
    previous = ""
    for arg in user:
        if previous not in _VALUE_OPTIONS and _is_test_path(arg):
            file, sep, rest = arg.partition("::")
            arg = str(Path(file).resolve()) + sep + rest
            have_paths = True
        args.append(arg)
        previous = arg
    chosen = any(a.startswith(("-n", "--numprocesses")) for a in user) or "no:xdist" in user
    extra = [] if chosen or not parallel else ["-n", "auto"]
    paths = [] if have_paths else [str(root / "tests")]
    return [f"--rootdir={root}", *extra, *args, *paths]


def _junit(user: Sequence[str], root: Path) -> list[str]:
    if any(a.startswith(("--junitxml", "--junit-xml")) for a in user):
        return []
    return [f"--junitxml={build_dir(root) / JUNIT}"]


def _one_test(user: Sequence[str], root: Path) -> bool:
    """Whether the user's selection is a single test (then xdist's workers only cost time)."""
    chosen = _user_paths(user)
    if len(chosen) != 1 or Path(chosen[0]).is_dir():
        return False  # the whole suite, a folder or several files
    if "::" in chosen[0] and "-k" not in user:
        return True
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
                           *pytest_args(user, root, parallel=False)], cwd=root, capture_output=True, text=True,
                          check=False)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    return proc.returncode == 0 and len(ids) == 1


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    if args.list:
        return subprocess.call([sys.executable, "-m", "pytest", "--collect-only", "-q",
                                *pytest_args(args.extra, root, parallel=False)], cwd=root)
    if not args.no_build:
        status = building.build(root=root)
        if status != 0:
            print(f"moat: error: the build failed (scons exit status {status}); no tests run", file=sys.stderr)
            return status
    parallel = not _one_test(args.extra, root)
    return subprocess.call([sys.executable, "-m", "pytest", *_junit(args.extra, root),
                            *pytest_args(args.extra, root, parallel=parallel)], cwd=root)
