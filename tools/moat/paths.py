# SPDX-License-Identifier: MIT
"""Where things are: the repository root and the build outputs (docs/CONTRACTS.md)."""

from __future__ import annotations

import os
from pathlib import Path

from moat.errors import UserError


def repo_root() -> Path:
    """The moat checkout: $MOAT_ROOT, else the parent of tools/ that holds this package."""
    env = os.environ.get("MOAT_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent.parent


def build_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "build"


def hv_image(kind: str = "moat", *, elf: bool = False, root: Path | None = None) -> Path:
    """build/hv/<kind>.bin (for QEMU) or .elf (symbols); kind is 'moat' or 'moat-selftest'."""
    if kind not in ("moat", "moat-selftest"):
        raise UserError(f"unknown hypervisor build {kind!r} (expected 'moat' or 'moat-selftest')")
    return build_dir(root) / "hv" / f"{kind}.{'elf' if elf else 'bin'}"


def iso_image(root: Path | None = None) -> Path:
    return build_dir(root) / "moat.iso"


def require_built(path: Path) -> Path:
    """Return path, or raise a UserError telling the user to build when it is missing."""
    if not path.is_file():
        raise UserError(f"{display(path)} is missing: run ./moat build first")
    return path


def git_revision(root: Path | None = None) -> str | None:
    """`git describe --always --dirty` of the checkout, or None outside git."""
    import subprocess

    try:
        proc = subprocess.run(["git", "-C", str(root or repo_root()), "describe", "--always", "--dirty",
                               "--abbrev=12"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def hv_version(kind: str = "moat", root: Path | None = None) -> str | None:
    """The version in a built hypervisor's banner (`moat <version> x86-64 hypervisor`), or None."""
    import re

    try:
        data = hv_image(kind, root=root).read_bytes()
    except OSError:
        return None
    m = re.search(rb"moat ([!-~]{1,32}) x86-64 hypervisor", data)
    return m.group(1).decode() if m else None


def describe_build(root: Path | None = None) -> str:
    """The hypervisor build and the git revision, for --version."""
    root = root or repo_root()
    hv = hv_version(root=root)
    built = f"hypervisor {hv} built {_mtime(hv_image(root=root))}" if hv else "hypervisor not built"
    rev = git_revision(root)
    return f"{built}; git {rev}" if rev else f"{built}; not a git checkout"


def _mtime(path: Path) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))


def display(path: Path) -> str:
    """path relative to the current directory when it is below it, for messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
