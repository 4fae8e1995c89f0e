# SPDX-License-Identifier: MIT
"""Fixtures of the policy tests: the host-built C parser and helpers to compare both decoders."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moat.policy import BlobError, decode
from moat.pytest_plugin import host_program

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "policies" / "xen-acm"
EXAMPLES = ROOT / "docs" / "examples" / "policies"


def py_decode(blob: bytes) -> dict[str, Any]:
    """The Python decoder's answer in the shape acm_check prints."""
    try:
        return decode(blob).to_json()
    except BlobError as e:
        return {"error": {"offset": e.offset, "field": e.field}}


@pytest.fixture(scope="session")
def acm_check_bin() -> Path:
    """build/host/acm_check: tests/host/acm_check.c + hv/xsm/acm_policy.c, which `moat build` makes
    with AddressSanitizer and UBSan where their runtime is installed (SConstruct): a read outside
    the blob (acm_check parses each blob from an allocation of exactly its size) or undefined
    behaviour stops it with a report. Compiling it here cost each worker 1 s of CPU."""
    return host_program("acm_check")


def acm_check_frames(acm_check_bin: Path, blobs: list[bytes], *options: str) -> list[dict[str, Any]]:
    """acm_check's line for each blob, all through one process: `acm_check --frames` reads them from
    its standard input, each into an allocation of exactly its size (no file each: a test
    here offers thousands)."""
    framed = b"".join(part for b in blobs for part in (len(b).to_bytes(4, "big"), b))
    proc = subprocess.run([str(acm_check_bin), *options, "--frames"], input=framed, capture_output=True,
                          check=False)
    # A sanitizer's report ends acm_check with status 1 too: only the parser's refusals are quiet.
    assert proc.returncode in (0, 1) and not proc.stderr, proc.stderr.decode(errors="replace")
    results = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(results) == len(blobs)
    return results


@pytest.fixture(scope="session")
def c_decode(acm_check_bin: Path) -> Callable[[list[bytes]], list[dict[str, Any]]]:
    """Decode many blobs with the C parser in one process; one dict per blob."""

    def run(blobs: list[bytes]) -> list[dict[str, Any]]:
        results = acm_check_frames(acm_check_bin, blobs)
        for r in results:
            r.pop("message", None)
        return results

    return run


@pytest.fixture
def agree(c_decode: Callable[[list[bytes]], list[dict[str, Any]]]) -> Callable[[list[bytes]], list[dict[str, Any]]]:
    """Assert that the C and Python decoders give the same answer for every blob; return them."""

    def check(blobs: list[bytes]) -> list[dict[str, Any]]:
        cs = c_decode(blobs)
        out = []
        for i, (b, c) in enumerate(zip(blobs, cs, strict=True)):
            p = py_decode(b)
            assert c == p, f"blob {i} ({len(b)} bytes): C {c} != Python {p}"
            out.append(p)
        return out

    return check
