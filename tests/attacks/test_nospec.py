# SPDX-License-Identifier: MIT
"""The speculation-safe index helper (hv/arch/x86_64/include/moat/nospec.h), run on the host: the masked index
is the index below the bound and 0 from the bound up, for every pair of boundary values."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from moat.include_roots import HYPERVISOR, include_flags

ROOT = Path(__file__).resolve().parents[2]


def test_array_index_nospec(tmp_path: Path) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "nospec_check"
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", *include_flags(HYPERVISOR, ROOT),
                    str(ROOT / "tests" / "host" / "nospec_check.c"), "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout
    assert r.stdout.strip() == "256 pairs, 0 wrong"
