# SPDX-License-Identifier: MIT
"""SHA-256 inside the hypervisor (hv/lib/sha256.c, `selftest=sha256`): FIPS 180-4's examples
(empty, one block, the 56-byte message whose padding takes a second block, the 112-byte one) fed
whole and in pieces of 1, 3, 55, 56, 63, 64 and 65 bytes, and a million 'a' in pieces of 1000.
The host test (tests/attest/test_sha256.py) checks the same file built for the host against
hashlib; this one checks the hypervisor's own build of it, whose streaming paths (a piece that
fills or does not fill the buffered block) the hypervisor's one-call hashes never take. It runs
on QEMU's `max` CPU, whose SHA extensions the hypervisor uses (sha256_ni.S), and on one without
them (the portable rounds): the same vectors, the same digests."""

from __future__ import annotations

import pytest

from moat.pytest_plugin import Booter, assert_xtf


@pytest.mark.parametrize(("cpu", "rounds"), [("max", "sha-ni"), ("max,-sha-ni", "portable")])
def test_sha256_selftest(boot: Booter, cpu: str, rounds: str) -> None:
    result = boot("selftest=sha256", selftest=True, timeout=120, extra_args=["-cpu", cpu])
    assert f"cpu: sha256 {rounds}" in result.lines, result.tail()
    assert "check failed" not in result.console, result.tail()
    assert "selftest: sha256: 33 checks" in result.lines, result.tail()
    assert_xtf(result, "SUCCESS")
