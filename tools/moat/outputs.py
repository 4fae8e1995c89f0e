# SPDX-License-Identifier: MIT
"""Files that `moat` writes: checked before any work starts, written whole or not at all.

check_output() refuses, up front, an output that could not be written (a directory, a missing
parent, an unwritable place) or that is one of the command's inputs, so a long run (a benchmark, a
compile) never fails at its end and never overwrites its own source. write_files() writes every
output of a step to a temporary file beside it and renames them only when all were written, so a
failure leaves nothing half-written and no output of a step whose other output failed.
write_atomically() is the one file of it, for caches that several processes may fill at once.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from moat.errors import UserError


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_output(path: Path, *, option: str = "output", inputs: Sequence[Path] = (),
                 make_parents: bool = False) -> Path:
    """path, if moat can write it there; else a UserError saying why, before any work is done.

    make_parents creates a missing directory first (for outputs under build/).
    """
    for source in inputs:
        if _same(path, source):
            raise UserError(f"{option} {path}: that is the input {source}; "
                            "choose another output file (nothing was written)")
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if make_parents and not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as exc:
            raise UserError(f"{option} {path}: cannot create {parent}: {exc.strerror or exc}") from None
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise UserError(f"{option} {path}: the directory {parent} {what}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{option} {path}: not writable")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: cannot create files in {parent}")
    return path


def write_files(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write every (path, data) or none: temporary files first, renamed when all are written."""
    staged: list[tuple[str, Path]] = []
    current = files[0][0] if files else Path()
    try:
        for current, data in files:
            fd, tmp = tempfile.mkstemp(dir=current.parent, prefix=f".{current.name}.", suffix=".tmp")
            staged.append((tmp, current))
            os.fchmod(fd, _mode(current))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        for tmp, current in staged:
            os.replace(tmp, current)
    except OSError as exc:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise UserError(f"{current}: cannot write: {exc.strerror or exc}; nothing was written") from None


def write_atomically(path: Path, data: bytes) -> None:
    """path holds data afterwards, and no reader ever sees half of it: written to a temporary file
    beside it, then renamed over it. The temporary file's name is drawn afresh (mkstemp), so
    processes writing the same path at once (test workers filling one cache) each rename their own
    whole file, the last one winning; with one fixed name, one writer's rename took the other's
    file away under it (FileNotFoundError). OSError is the caller's."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mode(path: Path) -> int:
    """The mode a new file gets (0666 less the umask), or the one it already has."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_file(path: Path, data: bytes | str) -> None:
    """One output, written atomically."""
    write_files([(path, data.encode("utf-8") if isinstance(data, str) else data)])


def open_log(path: Path, option: str = "--log") -> Path:
    """A log file moat will stream to: its directory is made if missing, the rest checked."""
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None
    return path
