# SPDX-License-Identifier: MIT
"""What the hypervisor refuses at boot, whole: a malformed boot manifest and a bad policy module.

Each boots tests/scenarios/hello.toml's modules with one of them spoilt. The hypervisor must say
why, build no domain, and stop with a failure status (docs/CONTRACTS.md).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from moat import manifest, paths, scenario
from moat.policy import compile_policy, read_policy
from moat.pytest_plugin import assert_status

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "tests" / "data" / "policies" / "xen-acm" / "synthetic"


def hello_modules() -> list[tuple[Path, str]]:
    scen = scenario.load(ROOT / "tests" / "scenarios" / "hello.toml")
    return manifest.build_boot_modules(scen, paths.build_dir())


def assert_manifest_refused(boot, tmp_path: Path, spoil, reason: str) -> None:
    """hello's manifest, spoilt by spoil, is refused whole with reason: no domain is built."""
    mods = hello_modules()
    bad = tmp_path / "manifest"
    bad.write_bytes(spoil(mods[0][0].read_bytes()))
    result = boot(modules=[(bad, "manifest"), *mods[1:]])
    assert_status(result, "FAILURE")
    assert f"manifest: refused: {reason}" in result.lines, result.lines[-6:]
    assert not any(" created: " in line or line.startswith("(d") for line in result.lines)


def with_crc(blob: bytearray) -> bytes:
    struct.pack_into("<I", blob, 4, zlib.crc32(blob[8:]))
    return bytes(blob)


def spoil_checksum(blob: bytes) -> bytes:
    b = bytearray(blob)
    b[-1] ^= 0x01  # the last byte of the command line: the CRC no longer matches
    return bytes(b)


def spoil_image_index(blob: bytes) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<I", b, manifest.HEADER.size + manifest.NAME_MAX, 99)  # domain 0's image_module
    return with_crc(b)


def spoil_count(blob: bytes) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<H", b, 14, 2)  # domain_count 2, but one record and total_size for one
    return with_crc(b)


def spoil_name(blob: bytes) -> bytes:
    b = bytearray(blob)
    forged = b"x\nmoat: stop:\0"  # a line break in a name would let it forge a console line
    b[manifest.HEADER.size:manifest.HEADER.size + len(forged)] = forged
    return with_crc(b)


def spoil_version(blob: bytes) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<H", b, 8, 99)
    return with_crc(b)


def spoil_vcpu_cpus(blob: bytes) -> bytes:
    b = bytearray(blob)
    # hello's one vCPU: a CPU for a second vCPU it does not have (domain 0's vcpu_cpus[1]).
    b[manifest.HEADER.size + manifest.NAME_MAX + 12 * 4 + 1] = 1
    return with_crc(b)


def spoil_slice(slice_us: int):
    def spoil(blob: bytes) -> bytes:
        b = bytearray(blob)
        struct.pack_into("<I", b, 20, slice_us)  # the header's slice_us
        return with_crc(b)
    return spoil


SLICE_REFUSED = "the scheduler slice is not 0 to 1000 whole milliseconds"


@pytest.mark.parametrize(("spoil", "reason"), [
    (spoil_checksum, "checksum mismatch"),
    (spoil_image_index, "a domain names an image module that does not exist"),
    (spoil_count, "total size does not match"),
    (spoil_version, "unsupported version"),
    (spoil_name, "a domain name is not 1 to 31 of A-Z a-z 0-9 _ . -"),
    (spoil_vcpu_cpus, "a domain's vcpu_cpus names a vCPU it does not have, or a CPU out of range"),
    # Not whole milliseconds (999,999 us would be 999 ticks, rounded down), and over a second.
    (spoil_slice(999_999), SLICE_REFUSED),
    (spoil_slice(1_001_000), SLICE_REFUSED),
], ids=["checksum", "image-index", "count", "version", "name", "vcpu-cpus", "slice-part-ms", "slice-too-long"])
def test_a_malformed_manifest_is_refused_whole(boot, tmp_path: Path, spoil, reason: str):
    assert_manifest_refused(boot, tmp_path, spoil, reason)


def test_a_malformed_policy_stops_the_boot(boot, tmp_path: Path):
    mods = hello_modules()
    blob = bytearray(mods[-1][0].read_bytes())
    struct.pack_into(">I", blob, 4, 3)  # policy_version 3: the magic still marks it as the policy
    bad = tmp_path / "policy.bin"
    bad.write_bytes(bytes(blob))
    result = boot(modules=[*mods[:-1], (bad, "policy")])
    assert_status(result, "FAILURE")
    assert any("security policy (module 2) is malformed at offset 4 (policy_version)" in line
               for line in result.lines), result.lines[-6:]
    assert not any(line.startswith("manifest:") for line in result.lines), "domains were considered"


def test_a_policy_without_chinese_wall_and_ste_parts_stops_the_boot(boot, tmp_path: Path):
    # Xen's compiler gives an STE-only policy codes no hypervisor can load (docs/policy-format.md).
    mods = hello_modules()
    bad = tmp_path / "ste-only.bin"
    bad.write_bytes(compile_policy(read_policy(SYNTHETIC / "s03_ste_only.xml")))
    result = boot(modules=[*mods[:-1], (bad, "policy")])
    assert_status(result, "FAILURE")
    assert any("has no Chinese Wall and STE parts to enforce" in line for line in result.lines), result.lines[-6:]


def policy_cut_short(good: bytes) -> bytes:
    # The magic and the version, then nothing: too short for the fixed header it starts.
    return good[:8]


def policy_too_large(good: bytes) -> bytes:
    # The good header with a len that is the module's size, 8 bytes above the 64 MiB the format
    # allows: refused on its size before anything else of it is read.
    size = 64 * 1024 * 1024 + 8
    return good[:8] + struct.pack(">I", size) + bytes(size - 12)


@pytest.mark.parametrize(("make", "where", "memory"), [
    (policy_cut_short, "offset 0 (header): shorter than the 60-byte header", None),
    (policy_too_large, "offset 8 (len): exceeds the maximum policy size", "256M"),
], ids=["cut-short", "too-large"])
def test_a_policy_module_of_the_wrong_size_stops_the_boot(boot, tmp_path: Path, make, where: str,
                                                         memory: str | None):
    mods = hello_modules()
    blob = make(mods[-1][0].read_bytes())
    bad = tmp_path / "policy.bin"
    bad.write_bytes(blob)
    result = boot(modules=[*mods[:-1], (bad, "policy")], memory=memory)
    assert_status(result, "FAILURE")
    assert any(f"security policy (module 2) is malformed at {where}" in line
               for line in result.lines), result.lines[-6:]
    assert not any(line.startswith("manifest:") for line in result.lines), "domains were considered"


def test_a_module_too_short_for_a_magic_is_passed_over(boot, tmp_path: Path):
    # Three bytes of the policy's magic: too short to be looked at as a policy at all. The
    # booter adds its default policy after it: that one is found and loaded.
    mods = hello_modules()
    bad = tmp_path / "policy.bin"
    bad.write_bytes(mods[-1][0].read_bytes()[:3])
    result = boot(modules=[*mods[:-1], (bad, "policy")])
    assert_status(result, "SUCCESS")
    assert any(line.startswith("module 2: ") and line.endswith(" 3 bytes '" + str(bad) + " policy'")
               for line in result.lines), result.lines[:20]
    assert any(line.startswith("mac: policy 'moat-default'") for line in result.lines)
    assert not any("is malformed" in line for line in result.lines)
