# SPDX-License-Identifier: MIT
"""Fixtures of the policy tests: the host-built C parser and helpers to compare both decoders."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

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


class _Frames:
    """A long-lived `acm_check [OPTIONS] --frames`: blobs in on its standard input (a 4-byte length,
    then the blob, read into an allocation of exactly its size), one line each out. Starting
    acm_check (the sanitizers' runtime) cost more than parsing a small batch, and the policy
    tests offer about a hundred; one that ends early (a sanitizer's report, a crash) fails that
    batch with what it wrote on stderr, and the next batch starts another."""

    def __init__(self, binary: Path, options: tuple[str, ...], errors: Path) -> None:
        self.cmd = [str(binary), *options, "--frames"]
        self.errors = errors
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, blobs: list[bytes]) -> list[dict[str, Any]]:
        if self.proc is None or self.proc.poll() is not None:
            with self.errors.open("wb") as err:
                self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        framed = b"".join(part for b in blobs for part in (len(b).to_bytes(4, "big"), b))
        # Written from a thread while the lines are read here: neither pipe's buffer can fill up.
        writer = threading.Thread(target=_feed, args=(proc.stdin, framed), daemon=True)
        writer.start()
        lines = []
        for _ in blobs:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        writer.join()
        if len(lines) < len(blobs):
            proc.wait()
            self.proc = None
            raise AssertionError(f"acm_check ended (status {proc.returncode}) after {len(lines)} of "
                                 f"{len(blobs)} blobs:\n{self.errors.read_text(errors='replace')}")
        assert self.errors.stat().st_size == 0, self.errors.read_text(errors="replace")
        return [json.loads(line) for line in lines]

    def close(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            self.proc.wait()


def _feed(stdin: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):  # acm_check ended early: run() reports why
        stdin.write(data)
        stdin.flush()


@pytest.fixture(scope="session")
def acm_frames(acm_check_bin: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """acm_frames(blobs, *options): acm_check's line for each blob (as `acm_check OPTIONS BLOB...`
    prints it), through one acm_check per set of options for the whole session."""
    work = tmp_path_factory.mktemp("acm_frames")
    running: dict[tuple[str, ...], _Frames] = {}

    def run(blobs: list[bytes], *options: str) -> list[dict[str, Any]]:
        if options not in running:
            running[options] = _Frames(acm_check_bin, options, work / f"stderr-{len(running)}.txt")
        return running[options].run(blobs)

    yield run
    for frames in running.values():
        frames.close()


@pytest.fixture(scope="session")
def c_decode(acm_frames: Callable[..., list[dict[str, Any]]]) -> Callable[[list[bytes]], list[dict[str, Any]]]:
    """Decode many blobs with the C parser; one dict per blob."""

    def run(blobs: list[bytes]) -> list[dict[str, Any]]:
        results = acm_frames(blobs)
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
