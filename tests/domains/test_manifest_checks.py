# SPDX-License-Identifier: MIT
"""Every check of the boot manifest (hv/core/manifest.c manifest_check, hv/core/link.c link_check),
one spoilt field at a time, and both operands of the or-ed ones: each is refused whole with its
reason, no domain is built, and the boot fails. A good manifest with a link between two domains
is the control: both are built and the link is published.

test_boot_refusals.py has the first six (checksum, image index, count, version, name characters,
vcpu_cpus); these are the rest but "bad magic", which no boot reaches: the hypervisor takes
for the manifest the module that starts with the magic (docs/coverage.md). Offsets follow
struct manifest_header (40 bytes), struct manifest_domain (344) and struct manifest_link (20) of
hv/include/public/manifest.h.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from moat import manifest
from moat.pytest_plugin import assert_xtf

from .test_boot_refusals import assert_manifest_refused, hello_modules, with_crc

H = manifest.HEADER.size  # the first domain record
D = manifest.DOMAIN.size
LINK = manifest.LINK


def u32(offset: int, value: int) -> Callable[[bytes], bytes]:
    def spoil(blob: bytes) -> bytes:
        b = bytearray(blob)
        struct.pack_into("<I", b, offset, value)
        return with_crc(b)
    return spoil


def u16(offset: int, value: int) -> Callable[[bytes], bytes]:
    def spoil(blob: bytes) -> bytes:
        b = bytearray(blob)
        struct.pack_into("<H", b, offset, value)
        return with_crc(b)
    return spoil


def fill(offset: int, length: int) -> Callable[[bytes], bytes]:
    """length bytes of 'a' from offset: a string with no terminating NUL."""
    def spoil(blob: bytes) -> bytes:
        b = bytearray(blob)
        b[offset:offset + length] = b"a" * length
        return with_crc(b)
    return spoil


def two_domains(blob: bytes, links: list[bytes]) -> bytes:
    """hello's record twice (the second named hello2), then the links; sizes and CRC made right."""
    b = bytearray(blob[:H + D])
    second = bytearray(blob[H:H + D])
    second[:32] = b"hello2".ljust(32, b"\0")
    b += second + b"".join(links)
    struct.pack_into("<H", b, 14, 2)
    struct.pack_into("<I", b, 16, len(b))
    struct.pack_into("<I", b, 28, len(links))
    return with_crc(b)


def link(granter: int = 0, mapper: int = 1, gmac: bytes = b"\x02\0\0\0\0\x01",
         mmac: bytes = b"\x02\0\0\0\0\x02", flags: int = 0, reserved: int = 0) -> bytes:
    return LINK.pack(granter, mapper, gmac, mmac, flags, reserved)


def links(*records: bytes) -> Callable[[bytes], bytes]:
    return lambda blob: two_domains(blob, list(records))


def with_flags(flags: int, offset: int, value: int) -> Callable[[bytes], bytes]:
    """The domain's flags set (MDOM_PINNED: 2) and one more field."""
    def spoil(blob: bytes) -> bytes:
        b = bytearray(blob)
        struct.pack_into("<I", b, H + 44, flags)
        struct.pack_into("<I", b, offset, value)
        return with_crc(b)
    return spoil


def seventeen_links(blob: bytes) -> bytes:
    recs = [link(gmac=bytes([2, 0, 0, 0, 1, i]), mmac=bytes([2, 0, 0, 0, 2, i])) for i in range(17)]
    return two_domains(blob, recs)


REFUSALS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "short": (lambda blob: blob[:H - 1], "shorter than its header"),
    "header-size": (u16(10, H + 4), "header or domain record size does not match this hypervisor"),
    "domain-size": (u16(12, D + 4), "header or domain record size does not match this hypervisor"),
    "no-domains": (u16(14, 0), "domain count out of range"),
    "65-domains": (u16(14, 65), "domain count out of range"),
    "257-links": (u32(28, 257), "link count out of range"),
    "cut-short": (lambda blob: blob[:-1], "total size does not match"),
    "name-unterminated": (fill(H, 32), "a domain name or command line is not terminated"),
    "cmdline-unterminated": (fill(H + 88, 256), "a domain name or command line is not terminated"),
    "image-is-the-manifest": (u32(H + 32, 0), "a domain names an image module that does not exist"),
    "memory-small": (u32(H + 36, 60), "a domain's memory is out of range"),
    "memory-unaligned": (u32(H + 36, 1026), "a domain's memory is out of range"),
    "memory-large": (u32(H + 36, (1 << 20) + 4), "a domain's memory is out of range"),
    "expect": (u32(H + 48, 3), "a domain has unknown flags or expectation"),
    "flags": (u32(H + 44, 4), "a domain has unknown flags or expectation"),
    "cpu-unpinned": (u32(H + 64, 1), "a domain's cpu is out of range"),
    "cpu-pinned": (with_flags(2, H + 64, 64), "a domain's cpu is out of range"),
    "vcpus": (u32(H + 68, 9), "a domain has more vCPUs than MOAT_MAX_VCPUS (8)"),
    "evtchn": (u32(H + 52, 4097), "a domain's event channel limit is above 4096"),
    "device": (u32(H + 60, 1 << 31), "a domain names a device this hypervisor does not know"),
    "link-granter": (links(link(granter=2)), "a link names a domain record that does not exist, or the same one twice"),
    "link-mapper": (links(link(mapper=2)), "a link names a domain record that does not exist, or the same one twice"),
    "link-self": (links(link(mapper=0)), "a link names a domain record that does not exist, or the same one twice"),
    "link-flags": (links(link(flags=1)), "a link has unknown flags"),
    "link-reserved": (links(link(reserved=1)), "a link has unknown flags"),
    "link-mac-zero": (links(link(gmac=bytes(6))), "a link's MAC addresses are not two different unicast addresses"),
    "link-mac-group": (links(link(mmac=b"\x03\0\0\0\0\x02")),
                       "a link's MAC addresses are not two different unicast addresses"),
    "link-mac-same": (links(link(mmac=b"\x02\0\0\0\0\x01")),
                      "a link's MAC addresses are not two different unicast addresses"),
    "17-links": (seventeen_links, "a domain is an end of more than 16 links"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_each_manifest_check_refuses_the_whole_manifest(boot, tmp_path: Path, name: str):
    spoil, reason = REFUSALS[name]
    assert_manifest_refused(boot, tmp_path, spoil, reason)


def test_two_domains_with_a_link_are_built_and_the_link_published(boot, tmp_path: Path):
    """The control: the same layout with a well-formed link (16 from one domain is the limit)."""
    mods = hello_modules()
    good = tmp_path / "manifest"
    recs = [link(gmac=bytes([2, 0, 0, 0, 1, i]), mmac=bytes([2, 0, 0, 0, 2, i])) for i in range(16)]
    good.write_bytes(two_domains(mods[0][0].read_bytes(), recs))
    result = boot(modules=[(good, "manifest"), *mods[1:]])
    assert_xtf(result, "SUCCESS")
    published = [line for line in result.lines if line.startswith("link ")]
    assert len(published) == 16, result.lines[-10:]
    assert published[0].startswith("link 0: 0:hello <-> 1:hello2"), published[0]
    assert "(d1) hello from domain 1 'hello2', 256 pages, cmdline 'greeting=hello'" in result.lines


def test_a_link_whose_end_was_not_built_is_not_published(boot, tmp_path: Path):
    """Domain 1's label is beyond the policy (and it may end any way), so it is not built: its
    link is left out with one line, and domain 0 runs without it."""
    mods = hello_modules()
    blob = bytearray(two_domains(mods[0][0].read_bytes(), [link()]))
    struct.pack_into("<I", blob, H + D + 40, 0x7FFF7FFF)  # record 1's ssidref
    struct.pack_into("<I", blob, H + D + 48, 2)  # record 1's expect: any
    path = tmp_path / "manifest"
    path.write_bytes(with_crc(blob))
    result = boot(modules=[(path, "manifest"), *mods[1:]])
    assert_xtf(result, "SUCCESS")
    assert "link 0: not published: an end was not built" in result.lines, result.lines[-10:]
    assert any(line.startswith("domain 'hello2' not created: error ") for line in result.lines)
    assert "(d0) hello from domain 0 'hello', 256 pages, cmdline 'greeting=hello'" in result.lines
