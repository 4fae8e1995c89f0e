# SPDX-License-Identifier: MIT
"""hv/lib/string.c (the hypervisor's and the guests' memset, memcpy and memmove: eight bytes per
string instruction, then the byte tail; memmove backwards with the direction flag set inside one
asm statement), built for the host and run by tests/host/string_check.c: every length to 80 at
every offset pair of a small buffer, overlapping in both directions, and the direction flag clear
after each call."""

from __future__ import annotations

import subprocess

from moat.pytest_plugin import host_program


def test_copies_fill_and_overlapping_moves_match_a_byte_model() -> None:
    # build/host/string_check: string.c compiled as the hypervisor's (-O2, freestanding) with its
    # functions renamed (moat_memset, ...), so that the driver keeps the C library's own.
    r = subprocess.run([str(host_program("string_check"))], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
