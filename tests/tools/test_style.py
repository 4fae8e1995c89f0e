# SPDX-License-Identifier: MIT
"""Project conventions: ruff-clean Python, an SPDX line in every source file of the tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from moat.pytest_plugin import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.is_file():
        skip_or_fail("ruff is not installed next to this Python (run ./moat)")
    # A plain `ruff check` at the root: the settings are in ruff.toml there.
    proc = subprocess.run([str(ruff), "check", "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_spdx_lines():
    files = [*ROOT.glob("tools/**/*.py"), *ROOT.glob("tests/**/*.py"), ROOT / "moat", ROOT / ".ci" / "run",
             ROOT / "boot" / "SConscript", ROOT / "tools" / "pyproject.toml", ROOT / "ruff.toml", ROOT / "mypy.ini"]
    missing = [str(f.relative_to(ROOT)) for f in files
               if f.is_file() and "SPDX-License-Identifier: MIT" not in f.read_text(errors="replace")[:300]]
    assert missing == []
