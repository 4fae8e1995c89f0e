# SPDX-License-Identifier: MIT
"""Running SCons for the commands that build: parallel by default, one progress line.

SCons prints one line per step (`CC build/...`, `LD ...`, the COMSTRs in SConstruct). build()
turns them into a single line that counts the steps (rewritten in place on a terminal, once at
the end otherwise) and shows everything else SCons or a compiler said; a failure shows the whole
output. `moat build -v` (verbose=True) streams SCons as it is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from moat.errors import UserError
from moat.paths import repo_root

# A step line: one of SConstruct's COMSTRs ("CC build/obj/...", "POLICY build/policies/x.bin").
_STEP = re.compile(r"^([A-Z][A-Z0-9_]{1,11}) (\S+)$")
_CHATTER = re.compile(r"^scons: (done building targets|Building targets|Reading SConscript|done reading)")


def scons_program() -> str:
    """The scons installed next to this Python (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "scons"
    if local.is_file():
        return str(local)
    found = shutil.which("scons")
    if found is None:
        raise UserError("scons not found: run ./moat (it installs scons into .venv)")
    return found


def _has_jobs(args: Sequence[str]) -> bool:
    return any(a == "-j" or a.startswith(("-j", "--jobs")) for a in args)


def scons_command(args: Sequence[str] = (), root: Path | None = None) -> list[str]:
    """scons -C ROOT [-jN] ARGS: as many jobs as CPUs unless the arguments choose."""
    root = root or repo_root()
    if not (root / "SConstruct").is_file():
        raise UserError(f"{root}/SConstruct is missing: is this a moat checkout?")
    jobs = [] if _has_jobs(args) else [f"-j{os.cpu_count() or 1}"]
    return [scons_program(), "-C", str(root), *jobs, *args]


def run_scons(args: Sequence[str] = (), root: Path | None = None) -> int:
    """SCons with its own output (every step on its line); its exit status."""
    return subprocess.call(scons_command(args, root))


def build(args: Sequence[str] = (), *, root: Path | None = None, verbose: bool = False,
          out: TextIO | None = None) -> int:
    """Build with one progress line (verbose: SCons's own output); SCons's exit status."""
    if verbose:
        return run_scons(args, root)
    out = out or sys.stderr
    tty = out.isatty()
    start = time.monotonic()
    proc = subprocess.Popen([*scons_command(args, root), "-Q"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    assert proc.stdout is not None
    steps = 0
    said: list[str] = []  # what is not a step: errors, warnings, SCons's messages
    everything: list[str] = []
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        everything.append(line)
        m = _STEP.match(line)
        if m:
            steps += 1
            if tty:
                out.write(f"\r\033[Kmoat: building: {steps} steps, {m.group(1)} {m.group(2)}"[:200])
                out.flush()
        elif not _CHATTER.match(line) and "is up to date" not in line:
            said.append(line)
    status = proc.wait()
    if tty and steps:
        out.write("\r\033[K")
    if status != 0:
        out.write("\n".join(everything) + "\n")
        out.write(f"moat: the build failed (scons exit status {status}); the full output is above\n")
    else:
        if said:
            out.write("\n".join(said) + "\n")
        took = time.monotonic() - start
        out.write(f"moat: build: {steps} step{'s' if steps != 1 else ''} in {took:.1f} s\n" if steps
                  else f"moat: build: up to date ({took:.1f} s)\n")
    out.flush()
    return status


def build_or_fail(args: Sequence[str] = (), *, root: Path | None = None) -> None:
    """Build quietly, raising a UserError when the build fails (for commands that build first)."""
    status = build(args, root=root)
    if status != 0:
        raise UserError(f"the build failed (scons exit status {status})")
