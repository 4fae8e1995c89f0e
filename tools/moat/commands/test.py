# SPDX-License-Identifier: MIT
"""`moat test [PYTEST ARGS]`: build, then run pytest over tests/ in parallel."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from moat.commands.build import run_scons
from moat.paths import repo_root


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "test", help="build, then run the tests (extra arguments go to pytest)",
        description="Build with SCons, then run pytest over tests/ with -n auto "
                    "(pytest-xdist) unless you pass -n. Example: moat test "
                    "tests/boot/test_banner.py -k cmdline", allow_abbrev=False)
    p.set_defaults(func=run, passthrough=True)


# pytest options whose next argument is a value, never a test path.
_VALUE_OPTIONS = {"-k", "-m", "-n", "-p", "-o", "-c", "-W", "--tb", "--maxfail",
                  "--numprocesses", "--dist", "--log-level", "--durations"}


def _is_test_path(arg: str) -> bool:
    return not arg.startswith("-") and Path(arg.split("::", 1)[0]).exists()


def pytest_args(user: Sequence[str], root: Path) -> list[str]:
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
    parallel = any(a.startswith(("-n", "--numprocesses")) for a in user) or "no:xdist" in user
    extra = [] if parallel else ["-n", "auto"]
    paths = [] if have_paths else [str(root / "tests")]
    return [f"--rootdir={root}", *extra, *args, *paths]


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    status = run_scons([], root)
    if status != 0:
        print(f"moat: error: the build failed (scons exit status {status}); no tests run",
              file=sys.stderr)
        return status
    return subprocess.call([sys.executable, "-m", "pytest", *pytest_args(args.extra, root)],
                           cwd=root)
