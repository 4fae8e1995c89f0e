# SPDX-License-Identifier: MIT
"""hv/lib/string.c (the hypervisor's and the guests' memset, memcpy and memmove: eight bytes per
string instruction, then the byte tail; memmove backwards with the direction flag set inside one
asm statement), built for the host and run by tests/host/string_check.c: every length to 80 at
every offset pair of a small buffer, overlapping in both directions, and the direction flag clear
after each call."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from moat.include_roots import HOST, include_flags

ROOT = Path(__file__).resolve().parents[2]
RENAMED = ["memset", "memcpy", "memmove", "memcmp", "strlen", "strnlen", "strcmp", "strncmp", "strlcpy"]


def test_copies_fill_and_overlapping_moves_match_a_byte_model(tmp_path: Path) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None or platform.machine() != "x86_64":
        pytest.skip("needs an x86-64 host C compiler (the functions are x86 string instructions)")
    lib = tmp_path / "string.o"
    # The library's own names would replace the C library's in the driver: rename them all.
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffreestanding", "-fno-builtin",
                    *[f"-D{n}=moat_{n}" for n in RENAMED], *include_flags(HOST, ROOT),
                    "-c", str(ROOT / "hv" / "lib" / "string.c"), "-o", str(lib)], check=True)
    exe = tmp_path / "string_check"
    subprocess.run([cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-Wvla",
                    str(ROOT / "tests" / "host" / "string_check.c"), str(lib), "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
