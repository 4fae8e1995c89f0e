# SPDX-License-Identifier: MIT
"""`moat build [SCONS ARGS]`: run SCons at the repository root."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from moat.errors import UserError
from moat.paths import repo_root


def scons_program() -> str:
    """The scons installed next to this Python (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "scons"
    if local.is_file():
        return str(local)
    found = shutil.which("scons")
    if found is None:
        raise UserError("scons not found: run ./moat (it installs scons into .venv)")
    return found


def run_scons(args: Sequence[str] = (), root: Path | None = None) -> int:
    root = root or repo_root()
    if not (root / "SConstruct").is_file():
        raise UserError(f"{root}/SConstruct is missing: is this a moat checkout?")
    return subprocess.call([scons_program(), "-C", str(root), *args])


def build_or_fail(args: Sequence[str] = ()) -> None:
    """Build, raising a UserError when the build fails (for commands that build first)."""
    status = run_scons(args)
    if status != 0:
        raise UserError(f"the build failed (scons exit status {status})")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("build", help="build everything with SCons (extra arguments go to scons)",
                       description="Run scons -C <repo root> with the given arguments, e.g. "
                                   "'moat build -c' to clean or 'moat build -j2'.",
                       allow_abbrev=False)
    p.set_defaults(func=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    return run_scons(args.extra)
