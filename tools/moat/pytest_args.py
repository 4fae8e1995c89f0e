# SPDX-License-Identifier: MIT
"""pytest's command line as `moat test` and `moat coverage` build it: the user's paths made absolute,
tests/ when none is named, two xdist workers per CPU unless the user chose, JUnit XML under build/."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from moat.paths import build_dir

JUNIT = Path("test-results") / "junit.xml"


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


# xdist workers per CPU. A quarter of the suite's worker time is waiting with the CPU idle (QEMU
# halted in a guest's timed wait, swtpm and tpm2-tools talking, a boot's teardown): with one
# worker per CPU a CPU sits idle that long; with two, one worker's wait is the other's turn.
# Measured on two cores (docs/testing.md, eighteenth round).
WORKERS_PER_CPU = 2


def default_workers() -> int:
    """How many xdist workers `moat test` starts when the user names no -n."""
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may run on (a container's share)
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return WORKERS_PER_CPU * max(1, cpus)


def pytest_args(user: Sequence[str], root: Path, *, parallel: bool = True) -> list[str]:
    """pytest's arguments: user paths made absolute, tests/ when none, default_workers() unless -n given."""
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
    extra = [] if chosen or not parallel else ["-n", str(default_workers())]
    paths = [] if have_paths else [str(root / "tests")]
    return [f"--rootdir={root}", *extra, *args, *paths]


def junit_args(user: Sequence[str], root: Path) -> list[str]:
    if any(a.startswith(("--junitxml", "--junit-xml")) for a in user):
        return []
    return [f"--junitxml={build_dir(root) / JUNIT}"]


def one_test(user: Sequence[str], root: Path) -> bool:
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
