# SPDX-License-Identifier: MIT
"""The speculation-safe index helper (hv/arch/x86_64/include/moat/nospec.h), run on the host: the masked index
is the index below the bound and 0 from the bound up, for every pair of boundary values."""

from __future__ import annotations

import subprocess

from moat.pytest_plugin import host_program


def test_array_index_nospec() -> None:
    # build/host/nospec_check, at -O2 as the hypervisor compiles the header (tests/host/SConscript).
    r = subprocess.run([str(host_program("nospec_check"))], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout
    assert r.stdout.strip() == "256 pairs, 0 wrong"
