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


@pytest.fixture(scope="session")
def c_decode(acm_check_bin: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[bytes]], list[dict[str, Any]]]:
    """Decode many blobs with the C parser in one process; one dict per blob."""
    work = tmp_path_factory.mktemp("blobs")
    counter = [0]

    def run(blobs: list[bytes]) -> list[dict[str, Any]]:
        paths = []
        for b in blobs:
            counter[0] += 1
            path = work / f"b{counter[0]}.bin"
            path.write_bytes(b)
            paths.append(str(path))
        results: list[dict[str, Any]] = []
        for i in range(0, len(paths), 500):
            proc = subprocess.run([str(acm_check_bin), *paths[i : i + 500]], capture_output=True, text=True)
            assert proc.returncode in (0, 1), proc.stderr
            results += [json.loads(line) for line in proc.stdout.splitlines()]
        for name in paths:
            Path(name).unlink()
        assert len(results) == len(blobs)
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
