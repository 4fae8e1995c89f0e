# SPDX-License-Identifier: MIT
"""hv/core/xen_layout.c holds Xen's sizes and offsets of every ABI structure that claims Xen's
layout: it compiles against the real headers, and a copy of the headers with one field moved,
one record resized or one array shortened fails to compile, naming the structure and field."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from moat.pytest_plugin import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ROOT / "hv" / "core" / "xen_layout.c"


def compile_layout(cc: str, include: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which(cc) is None:
        skip_or_fail(f"{cc} is not installed (./moat installs it)")
    freestanding = subprocess.run([cc, "-print-file-name=include"], capture_output=True, text=True,
                                  check=True).stdout.strip()
    return subprocess.run([cc, "-std=c11", "-ffreestanding", "-nostdinc", "-isystem", freestanding,
                           "-I", str(include), "-Wall", "-Wextra", "-Werror", "-fsyntax-only", str(LAYOUT)],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_the_headers_have_xens_layout(cc):
    proc = compile_layout(cc, ROOT / "hv" / "include")
    assert proc.returncode == 0, proc.stderr


# (header, text, replacement, what the failed assertion says)
MUTATIONS = [
    # two 16-bit fields swapped: the size stays, an offset moves
    ("grant_table.h", "    domid_t dom;            /* IN: the granter */\n    int16_t status;         /* OUT */\n",
     "    int16_t status;         /* OUT */\n    domid_t dom;            /* IN: the granter */\n",
     "gnttab_map_grant_ref: Xen has dom at offset 16"),
    # a port widened to 64 bits
    ("event_channel.h", "    domid_t dom, remote_dom; /* IN */\n    evtchn_port_t port;      /* OUT */\n",
     "    domid_t dom, remote_dom; /* IN */\n    uint64_t port;           /* OUT */\n",
     "evtchn_alloc_unbound: Xen has size 8"),
    # fewer legacy vCPU records in the shared-info page: everything after them moves
    ("hv.h", "#define MOAT_LEGACY_VCPUS 32\n", "#define MOAT_LEGACY_VCPUS 16\n",
     "shared_info: Xen has evtchn_pending at offset 2048"),
    # the copy pointer's explicit padding dropped: it is packed no more tightly, but a field moves
    ("grant_table.h", "    domid_t domid;\n    uint16_t offset;\n    uint32_t pad;\n",
     "    uint32_t pad;\n    domid_t domid;\n    uint16_t offset;\n",
     "gnttab_copy: Xen has source.domid at offset 8"),
]


@pytest.mark.parametrize(("header", "old", "new", "message"), MUTATIONS, ids=[m[3].split(":")[0] for m in MUTATIONS])
def test_a_moved_field_fails_the_build(tmp_path, header, old, new, message):
    include = tmp_path / "include"
    shutil.copytree(ROOT / "hv" / "include", include)
    path = include / "public" / header
    text = path.read_text()
    assert text.count(old) == 1, f"the mutation no longer applies to {header}: update this test"
    path.write_text(text.replace(old, new))
    proc = compile_layout("gcc", include)
    assert proc.returncode != 0, "a header with a moved field compiled"
    assert message in proc.stderr, proc.stderr
