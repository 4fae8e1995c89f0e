# SPDX-License-Identifier: MIT
"""hv/lib/sha256.c (the hypervisor's and the agent's SHA-256), built for the host, against
hashlib and the FIPS 180-4 example vectors, fed whole and in every awkward chunk size."""

from __future__ import annotations

import hashlib
import random
import subprocess
from pathlib import Path

import pytest

from moat.pytest_plugin import host_program

ROOT = Path(__file__).resolve().parents[2]

# FIPS 180-4 / NIST CAVP short examples: (message, digest).
NIST = [
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ((b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
      b"mnopqrstnopqrstu"), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
]


@pytest.fixture(scope="module")
def sha256_bin() -> Path:
    """build/host/sha256_check, which `moat build` makes (tests/host/SConscript, with the flags this
    test compiled it with before, -g besides): compiling it again here cost each worker 0.2 s."""
    return host_program("sha256_check")


def _digests(binary: Path, chunk: int | str, files: list[Path]) -> list[str]:
    r = subprocess.run([str(binary), str(chunk), *map(str, files)], capture_output=True, text=True, check=True)
    return r.stdout.split()


def test_nist_vectors(sha256_bin: Path, tmp_path: Path) -> None:
    files = []
    for i, (msg, _) in enumerate(NIST):
        files.append(tmp_path / f"v{i}")
        files[-1].write_bytes(msg)
    for chunk in ("one", 0, 1, 63, 64, 65):
        assert _digests(sha256_bin, chunk, files) == [d for _, d in NIST], f"chunk {chunk}"


def test_every_length_around_the_block_boundaries(sha256_bin: Path, tmp_path: Path) -> None:
    """Lengths 0-300 cover every padding case (55/56/63/64 bytes left); chunks split blocks oddly."""
    rng = random.Random(1)
    files = []
    for n in range(301):
        files.append(tmp_path / f"m{n}")
        files[-1].write_bytes(rng.randbytes(n))
    want = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    for chunk in ("one", 0, 1, 3, 55, 56, 64, 100):
        assert _digests(sha256_bin, chunk, files) == want, f"chunk {chunk}"


def test_the_hypervisor_image(sha256_bin: Path) -> None:
    """A real input of the measured launch: the hypervisor binary as built."""
    image = ROOT / "build" / "hv" / "moat.bin"
    if not image.is_file():
        pytest.skip("build/hv/moat.bin not built")
    assert _digests(sha256_bin, 4096, [image]) == [hashlib.sha256(image.read_bytes()).hexdigest()]
