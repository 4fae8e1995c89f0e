# SPDX-License-Identifier: MIT
"""A stand-in qemu-system-x86_64 (a shell script on PATH) for testing the runner and the CLI."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from moat.qemu import QEMU


def install(monkeypatch: pytest.MonkeyPatch, bindir: Path, body: str) -> Path:
    """Put a script named qemu-system-x86_64 with body (bash) first on PATH."""
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / QEMU
    script.write_text("#!/usr/bin/env bash\n# SPDX-License-Identifier: MIT\n" + body)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return script


def printing(lines: list[str], exit_code: int, args_file: Path | None = None) -> str:
    """Body of a fake QEMU that prints lines (with CRLF, like a serial port) and exits."""
    body = f'printf "%s\\n" "$@" > "{args_file}"\n' if args_file else ""
    for line in lines:
        body += f"printf '%s\\r\\n' {shlex.quote(line)}\n"
    return body + f"exit {exit_code}\n"
