# SPDX-License-Identifier: MIT
"""One digest of a set of source trees and a tool's version: what a cached result depends on.

`moat check` keeps scan-build's clean result under the digest of what scan-build reads, and
`moat mutate` keys its journal by the digest of everything a mutant's outcome depends on.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Collection, Sequence
from pathlib import Path


def inputs_digest(root: Path, tops: Sequence[str], tool_argv: Sequence[str],
                  skip: Collection[str] = ()) -> str:
    """SHA-256 over the files under each of tops (paths from root; a top may be a file), their
    names and sizes, and what `tool_argv` prints (its version; nothing is run when empty).
    Python's __pycache__ is never part of it; skip names files (from root) left out too."""
    h = hashlib.sha256()
    if tool_argv:
        version = subprocess.run(list(tool_argv), capture_output=True, text=True, check=False).stdout
        h.update(version.encode())
    for top in tops:
        base = root / top
        for path in sorted(base.rglob("*")) if base.is_dir() else [base]:
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root)
            if rel.as_posix() in skip:
                continue
            h.update(f"{rel}\0{path.stat().st_size}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()
