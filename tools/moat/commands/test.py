# SPDX-License-Identifier: MIT
"""`moat test [--list] [PYTEST ARGS]`: build, then run pytest over tests/ in parallel."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from moat import building
from moat.paths import build_dir, repo_root
from moat.pytest_args import junit_args, one_test, pytest_args

DESCRIPTION = """\
Build (one progress line), then run pytest over tests/ with two pytest-xdist workers per CPU
unless you pass -n or select a single test, which then runs without parallel workers. --smp N boots every
test with N CPUs unless it names its own. Every other argument goes to pytest:
moat test tests/boot/test_banner.py -k cmdline

reads:  tests/, build/ (boot tests boot build/hv/*.bin and build/images/*.elf in QEMU)
writes: build/test-results/junit.xml (JUnit XML of the run, unless you pass --junitxml),
        build/test-logs/<test id>.log (the serial log of every boot),
        build/pycache/ (compiled Python of the tests and tools, also when PYTHONDONTWRITEBYTECODE is set)
"""

EPILOG = "exit status: pytest's (0 all passed, 1 some failed, 5 none collected); SCons's when the build fails"

def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("test", help="build, then run the tests (extra arguments go to pytest)",
                       usage="moat test [--list] [--no-build] [PYTEST ARGS...]", description=DESCRIPTION,
                       epilog=EPILOG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="list the tests (pytest --collect-only); build nothing")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.set_defaults(func=run, passthrough=True)


def pytest_env(root: Path) -> dict[str, str]:
    """The environment of pytest and of the `python -m moat` its tests start.

    Python's compiled files go under build/pycache/ (unless PYTHONPYCACHEPREFIX names another
    place), and they are written even when PYTHONDONTWRITEBYTECODE is set: without them every
    xdist worker compiles and assertion-rewrites each test module again at collection, and every
    `python -m moat` a test starts compiles moat's modules again (docs/testing.md). The tree
    itself stays free of __pycache__ directories, which is what that setting is usually for.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(build_dir(root) / "pycache"))
    return env


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    if args.list:
        return subprocess.call([sys.executable, "-m", "pytest", "--collect-only", "-q",
                                *pytest_args(args.extra, root, parallel=False)], cwd=root, env=pytest_env(root))
    if not args.no_build:
        status = building.build(root=root)
        if status != 0:
            print(f"moat: error: the build failed (scons exit status {status}); no tests run", file=sys.stderr)
            return status
    parallel = not one_test(args.extra, root)
    return subprocess.call([sys.executable, "-m", "pytest", *junit_args(args.extra, root),
                            *pytest_args(args.extra, root, parallel=parallel)], cwd=root,
                           env=pytest_env(root))
