# SPDX-License-Identifier: MIT
"""Fixtures of the policy tests: the host-built C parser and helpers to compare both decoders."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moat.include_roots import HOST, include_flags
from moat.policy import BlobError, decode

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "policies" / "xen-acm"
EXAMPLES = ROOT / "docs" / "examples" / "policies"


def py_decode(blob: bytes) -> dict[str, Any]:
    """The Python decoder's answer in the shape acm_check prints."""
    try:
        return decode(blob).to_json()
    except BlobError as e:
        return {"error": {"offset": e.offset, "field": e.field}}


#: The sanitizers of the host parser's build: a read outside the blob (acm_check parses each blob
#: from an allocation of exactly its size) or undefined behaviour stops acm_check with a report.
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


@pytest.fixture(scope="session")
def acm_check_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """tests/host/acm_check.c + hv/xsm/acm_policy.c compiled with gcc for the host, with the
    sanitizers where their runtime is installed; and whether it has them."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("host") / "acm_check"
    cmd = [
        cc,
        "-std=c11",
        "-O1",
        "-g",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wvla",
        "-Wshadow",
        "-Wstrict-prototypes",
        "-Wmissing-prototypes",
        *include_flags(HOST, ROOT),
        str(ROOT / "tests" / "host" / "acm_check.c"),
        str(ROOT / "hv" / "xsm" / "acm_policy.c"),
        "-o",
        str(out),
    ]
    if subprocess.run([*cmd, *SANITIZE], check=False, capture_output=True).returncode == 0:
        return out, True
    subprocess.run(cmd, check=True)  # no sanitizer runtime here: the plain build still checks the logic
    return out, False


@pytest.fixture(scope="session")
def acm_check_bin(acm_check_build: tuple[Path, bool]) -> Path:
    return acm_check_build[0]


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
