# SPDX-License-Identifier: MIT
"""The C include roots: which headers each kind of program can reach (docs/hypervisor.md, "Include
roots"). One list for the builds (SConstruct, images/SConscript), `moat check` and the tests that
compile C on the host; tests/tools/test_include_roots.py checks the real compile commands.

    hv/include/public/      <public/...>   the guest ABI, one header per area
    hv/lib/include/lib/     <lib/...>      code the hypervisor and the guest library share (hv/lib/)
    hv/internal/moat/       <moat/...>     the hypervisor's own headers
    hv/arch/x86_64/include/moat/ <moat/...> the hypervisor's x86-64 headers (the CPU, paging, the
                                           architecture interface core/ uses: moat/arch.h)
    images/lib/include/moat <moat/...>     the guest library's headers

A guest sees the guest library, the ABI and the shared code, never the hypervisor's own headers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

PUBLIC = "hv/include"
SHARED = "hv/lib/include"
INTERNAL = "hv/internal"
ARCH = "hv/arch/x86_64/include"
GUEST_LIBRARY = "images/lib/include"

HYPERVISOR: tuple[str, ...] = (INTERNAL, ARCH, PUBLIC, SHARED)
GUEST: tuple[str, ...] = (GUEST_LIBRARY, PUBLIC, SHARED)
# Host programs that test the hypervisor's pure code (tests/host, tests/fuzz) also name its
# sources by path from hv/ ("xsm/acm_policy.h").
HOST: tuple[str, ...] = (*HYPERVISOR, "hv")
# The roots no guest may have: where the hypervisor's own headers are.
HYPERVISOR_ONLY: tuple[str, ...] = (INTERNAL, ARCH)


def include_flags(roots: Iterable[str], root: Path | str = ".") -> list[str]:
    """-I flags for the roots, relative to root (the repository)."""
    flags = []
    for r in roots:
        flags += ["-I", str(Path(root) / r)]
    return flags
