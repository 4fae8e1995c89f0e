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


def display(path: Path) -> str:
    """path relative to the current directory when it is below it, for messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
