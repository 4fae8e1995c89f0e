# SPDX-License-Identifier: MIT
"""Tiny ELF files made with gcc/ld in a temporary directory, for the tool tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from moat.pytest_plugin import skip_or_fail

SOURCE = r"""
int counter = 1;

__attribute__((noinline)) int func_a(int x) { return x * 3 + counter; }
__attribute__((noinline)) int func_b(int x) { return func_a(x) - 7 + counter * x; }

__asm__(".text\n.globl bare_label\nbare_label:\n nop\n nop\n nop\n ret\n");

void _start(void) { for (;;) counter = func_b(counter); }
"""


def build(tmp: Path, name: str, *ld_flags: str, entry: str = "_start") -> Path:
    """Compile SOURCE into a static, freestanding x86-64 executable tmp/name."""
    if shutil.which("gcc") is None:
        skip_or_fail("gcc is missing (apt-get install gcc)")
    src = tmp / "tiny.c"
    src.write_text(SOURCE)
    out = tmp / name
    cmd = ["gcc", "-O1", "-ffreestanding", "-fno-pie", "-no-pie", "-nostdlib", "-static",
           "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none", f"-Wl,-e,{entry}",
           *[f"-Wl,{flag}" for flag in ld_flags], "-o", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"gcc failed: {' '.join(cmd)}\n{proc.stderr}")
    return out


def symbols(path: Path) -> dict[str, int]:
    """Symbol addresses according to nm (an independent reading of the ELF)."""
    out = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            table[parts[2]] = int(parts[0], 16)
    return table
