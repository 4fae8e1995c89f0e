# SPDX-License-Identifier: MIT
"""The hypervisor's checks of a guest's ELF image (hv/core/elf.c, elf_check), one spoilt copy of
the hello guest each: the domain is not built, the console names the reason, and the boot ends
in failure (the manifest asked for a domain that never ran). An image passes these checks before
any of it is copied into a domain, so a refusal leaves nothing behind."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from moat.pytest_plugin import assert_status

from .test_boot_refusals import hello_modules

# ELF64 header fields (offsets) and program header fields (offsets within an entry) used below.
E_TYPE, E_VERSION, E_ENTRY, E_PHOFF, E_EHSIZE, E_PHENTSIZE, E_PHNUM = 16, 20, 24, 32, 52, 54, 56
P_TYPE, P_FLAGS, P_OFFSET, P_VADDR, P_FILESZ, P_MEMSZ = 0, 4, 8, 16, 32, 40
PHDR_SIZE, PT_LOAD, PF_X, PF_W = 56, 1, 1, 2


def _phdr(elf: bytearray, i: int) -> int:
    return int(struct.unpack_from("<Q", elf, E_PHOFF)[0]) + i * PHDR_SIZE


def _loads(elf: bytearray) -> list[int]:
    n = struct.unpack_from("<H", elf, E_PHNUM)[0]
    return [_phdr(elf, i) for i in range(n) if struct.unpack_from("<I", elf, _phdr(elf, i) + P_TYPE)[0] == PT_LOAD]


def truncated(elf: bytearray) -> bytes:
    return bytes(elf[:40])


def not_elf(elf: bytearray) -> bytes:
    elf[1:4] = b"XYZ"  # the magic gone, class and data still ELF64 little-endian
    return bytes(elf)


def elf32(elf: bytearray) -> bytes:
    elf[4] = 1
    return bytes(elf)


def big_endian(elf: bytearray) -> bytes:
    elf[5] = 2
    return bytes(elf)


def shared_object(elf: bytearray) -> bytes:
    struct.pack_into("<H", elf, E_TYPE, 3)
    return bytes(elf)


def version_2(elf: bytearray) -> bytes:
    struct.pack_into("<I", elf, E_VERSION, 2)
    return bytes(elf)


def short_header(elf: bytearray) -> bytes:
    struct.pack_into("<H", elf, E_EHSIZE, 52)
    return bytes(elf)


def no_phdrs(elf: bytearray) -> bytes:
    struct.pack_into("<H", elf, E_PHNUM, 0)
    return bytes(elf)


def phdrs_past_the_end(elf: bytearray) -> bytes:
    struct.pack_into("<Q", elf, E_PHOFF, len(elf) - PHDR_SIZE)  # the third entry runs past the end
    return bytes(elf)


def phdrs_misaligned(elf: bytearray) -> bytes:
    struct.pack_into("<Q", elf, E_PHOFF, struct.unpack_from("<Q", elf, E_PHOFF)[0] + 4)
    return bytes(elf)


def filesz_over_memsz(elf: bytearray) -> bytes:
    p = _loads(elf)[0]
    struct.pack_into("<Q", elf, p + P_FILESZ, struct.unpack_from("<Q", elf, p + P_MEMSZ)[0] + 1)
    return bytes(elf)


def data_past_the_end(elf: bytearray) -> bytes:
    struct.pack_into("<Q", elf, _loads(elf)[0] + P_OFFSET, len(elf))
    return bytes(elf)


def below_guest_ram(elf: bytearray) -> bytes:
    struct.pack_into("<Q", elf, _loads(elf)[0] + P_VADDR, 0x1000)
    return bytes(elf)


def writable_and_executable(elf: bytearray) -> bytes:
    p = _loads(elf)[0]
    struct.pack_into("<I", elf, p + P_FLAGS, struct.unpack_from("<I", elf, p + P_FLAGS)[0] | PF_W | PF_X)
    return bytes(elf)


def sharing_a_page(elf: bytearray) -> bytes:
    first, second = _loads(elf)[:2]
    vaddr = struct.unpack_from("<Q", elf, first + P_VADDR)[0]
    struct.pack_into("<Q", elf, second + P_VADDR, vaddr + 0x800)  # inside the first segment's page
    return bytes(elf)


def nothing_to_load(elf: bytearray) -> bytes:
    for p in _loads(elf):
        struct.pack_into("<I", elf, p + P_TYPE, 4)  # PT_NOTE
    return bytes(elf)


def phdr_entry_size(elf: bytearray) -> bytes:
    struct.pack_into("<H", elf, E_PHENTSIZE, 32)  # an ELF32 program header's size
    return bytes(elf)


def too_many_phdrs(elf: bytearray) -> bytes:
    struct.pack_into("<H", elf, E_PHNUM, 17)  # one more than the hypervisor reads
    return bytes(elf)


def above_guest_ram(elf: bytearray) -> bytes:
    struct.pack_into("<Q", elf, _loads(elf)[-1] + P_VADDR, 0x7000_0000_0000)
    return bytes(elf)


def past_guest_ram(elf: bytearray) -> bytes:
    struct.pack_into("<Q", elf, _loads(elf)[-1] + P_MEMSZ, 256 << 20)  # starts inside, ends far beyond
    return bytes(elf)


def entry_in_data(elf: bytearray) -> bytes:
    data = _loads(elf)[-1]  # the writable segment: not executable
    struct.pack_into("<Q", elf, E_ENTRY, struct.unpack_from("<Q", elf, data + P_VADDR)[0])
    return bytes(elf)


CASES: list[tuple[Callable[[bytearray], bytes], str]] = [
    (truncated, "too small for an ELF header"),
    (not_elf, "not a little-endian ELF64 file"),
    (elf32, "not a little-endian ELF64 file"),
    (big_endian, "not a little-endian ELF64 file"),
    (shared_object, "not an x86-64 executable"),
    (version_2, "not an ELF version 1 header"),
    (short_header, "not an ELF version 1 header"),
    (no_phdrs, "bad program header table size"),
    (phdrs_past_the_end, "program headers outside the file"),
    (phdrs_misaligned, "program headers outside the file"),
    (filesz_over_memsz, "segment with filesz > memsz"),
    (data_past_the_end, "segment data outside the file"),
    (below_guest_ram, "segment outside the guest's memory"),
    (writable_and_executable, "segment both writable and executable"),
    (sharing_a_page, "segments share a page"),
    (phdr_entry_size, "bad program header table size"),
    (too_many_phdrs, "bad program header table size"),
    (above_guest_ram, "segment outside the guest's memory"),
    (past_guest_ram, "segment outside the guest's memory"),
    (nothing_to_load, "no loadable segment"),
    (entry_in_data, "entry point not in an executable segment"),
]


@pytest.mark.parametrize(("spoil", "reason"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_bad_guest_image_is_refused(boot, tmp_path: Path, spoil: Callable[[bytearray], bytes],
                                      reason: str) -> None:
    manifest, image, policy = hello_modules()
    bad = tmp_path / "hello"
    bad.write_bytes(spoil(bytearray(image[0].read_bytes())))
    result = boot(modules=[manifest, (bad, image[1]), policy])
    assert_status(result, "FAILURE")
    refused = [line for line in result.lines if ": image module 1 refused: " in line]
    assert [line.split(": image module 1 refused: ")[1] for line in refused] == [reason], result.lines[-8:]
    assert not any(line.startswith("(d") for line in result.lines), "the spoilt image ran"
    assert "moat: all domains stopped: 0 as expected, 1 not" in result.lines, result.lines[-8:]


def test_the_unspoilt_copy_boots(boot, tmp_path: Path) -> None:
    """The control: the same module list with the image copied unchanged succeeds."""
    manifest, image, policy = hello_modules()
    copy = tmp_path / "hello"
    copy.write_bytes(image[0].read_bytes())
    result = boot(modules=[manifest, (copy, image[1]), policy])
    assert_status(result, "SUCCESS")


def test_null_and_empty_program_headers_are_passed_over(boot, tmp_path: Path) -> None:
    """The same image with a PT_NULL entry and an empty PT_LOAD (memsz 0, at address 0, below
    guest RAM) before its three segments: valid ELF, which the checks and the loader skip, so it
    boots as the original does. (The text starts at file offset 0x1000: the table has room.)"""
    manifest, image, policy = hello_modules()
    elf = bytearray(image[0].read_bytes())
    phoff = struct.unpack_from("<Q", elf, E_PHOFF)[0]
    n = struct.unpack_from("<H", elf, E_PHNUM)[0]
    table = bytes(elf[phoff:phoff + n * PHDR_SIZE])
    empty = bytearray(PHDR_SIZE)
    struct.pack_into("<II", empty, P_TYPE, PT_LOAD, PF_W | PF_X)  # even W+X: it maps nothing
    new = bytes(PHDR_SIZE) + bytes(empty) + table
    assert phoff + len(new) <= min(struct.unpack_from("<Q", elf, p + P_OFFSET)[0] for p in _loads(elf))
    elf[phoff:phoff + len(new)] = new
    struct.pack_into("<H", elf, E_PHNUM, n + 2)
    copy = tmp_path / "hello"
    copy.write_bytes(bytes(elf))
    result = boot(modules=[manifest, (copy, image[1]), policy])
    assert_status(result, "SUCCESS")
    assert any(line.startswith("(d0) hello from domain 0") for line in result.lines), result.lines[-8:]
