# SPDX-License-Identifier: MIT
"""./moat: valid bash, and a run after the first does no set-up work."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bootstrap_is_valid_bash():
    subprocess.run(["bash", "-n", str(ROOT / "moat")], check=True)
    assert os.access(ROOT / "moat", os.X_OK)


def test_second_run_does_no_setup():
    if not (ROOT / ".venv" / ".moat-setup").is_file():
        pytest.skip("./moat has not set up .venv in this checkout")
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian system")
    proc = subprocess.run([str(ROOT / "moat"), "--version"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("moat ")
    assert proc.stderr == "", f"./moat did set-up work on a set-up checkout:\n{proc.stderr}"
