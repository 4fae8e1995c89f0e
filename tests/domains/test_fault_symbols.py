# SPDX-License-Identifier: MIT
"""The function name in a crash record comes from the guest's own symbol table (elf_symbolize in
hv/core/elf.c), which the guest wrote: it is read with bounds checks and printed with nothing raw.
A fault guest (fault=ud2, so the record names do_ud2) with its symbol table spoilt: a control
character in the name is shown as '?'; a section table, symbol table, string table or name offset
that points outside the image or is misaligned, a section header or symbol size that is not
ELF64's, a symbol table whose string table does not exist, and an address that no function
symbol holds give a record without a name. The domain still crashes alone, as expected."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from moat import manifest, paths, scenario
from moat.pytest_plugin import assert_status

from . import domlog

SCENARIO = """\
[[domain]]
name = "fault-ud2"
image = "fault"
memory = "256K"
cmdline = "fault=ud2"
expect = "crash"
"""
E_SHOFF = 40
ST_NAME = 0  # u32 at the start of an Elf64_Sym (24 bytes)


def _do_ud2(image: bytes | bytearray) -> tuple[int, int]:
    """(file offset of do_ud2's Elf64_Sym, file offset of its name)."""
    import io

    elf = ELFFile(io.BytesIO(bytes(image)))
    symtab = next(s for s in elf.iter_sections() if isinstance(s, SymbolTableSection))
    strtab = list(elf.iter_sections())[symtab["sh_link"]]
    for i, sym in enumerate(symtab.iter_symbols()):
        if sym.name == "do_ud2":
            return symtab["sh_offset"] + i * symtab["sh_entsize"], strtab["sh_offset"] + sym["st_name"]
    raise AssertionError("the fault image has no do_ud2 symbol")


def control_char(image: bytearray) -> bytes:
    image[_do_ud2(image)[1]] = 0x01
    return bytes(image)


def sections_misaligned(image: bytearray) -> bytes:
    struct.pack_into("<Q", image, E_SHOFF, struct.unpack_from("<Q", image, E_SHOFF)[0] + 4)
    return bytes(image)


def name_past_the_strings(image: bytearray) -> bytes:
    struct.pack_into("<I", image, _do_ud2(image)[0] + ST_NAME, 0xFFFFFFF0)
    return bytes(image)


E_SHENTSIZE, E_SHNUM = 58, 60
SH_OFFSET, SH_SIZE, SH_LINK, SH_ENTSIZE = 24, 32, 40, 56  # fields of an Elf64_Shdr (64 bytes)


def _symtab_header(image: bytes | bytearray) -> int:
    """File offset of the symbol table's section header."""
    import io

    elf = ELFFile(io.BytesIO(bytes(image)))
    index = next(i for i, s in enumerate(elf.iter_sections()) if isinstance(s, SymbolTableSection))
    return int(struct.unpack_from("<Q", image, E_SHOFF)[0]) + 64 * index


def sections_past_the_end(image: bytearray) -> bytes:
    struct.pack_into("<Q", image, E_SHOFF, len(image) // 8 * 8)  # aligned, but the table runs out
    return bytes(image)


def section_header_size(image: bytearray) -> bytes:
    struct.pack_into("<H", image, E_SHENTSIZE, 40)  # an ELF32 section header's size
    return bytes(image)


def symtab_link_out_of_range(image: bytearray) -> bytes:
    # Its string table is a section that does not exist: the table is passed over (the only one).
    shnum = struct.unpack_from("<H", image, E_SHNUM)[0]
    struct.pack_into("<I", image, _symtab_header(image) + SH_LINK, shnum)
    return bytes(image)


def symtab_entry_size(image: bytearray) -> bytes:
    struct.pack_into("<Q", image, _symtab_header(image) + SH_ENTSIZE, 16)  # not an Elf64_Sym's 24
    return bytes(image)


def symtab_past_the_end(image: bytearray) -> bytes:
    struct.pack_into("<Q", image, _symtab_header(image) + SH_OFFSET, len(image) // 8 * 8)
    return bytes(image)


def strings_past_the_end(image: bytearray) -> bytes:
    link = struct.unpack_from("<I", image, _symtab_header(image) + SH_LINK)[0]
    strtab = int(struct.unpack_from("<Q", image, E_SHOFF)[0]) + 64 * link
    struct.pack_into("<Q", image, strtab + SH_SIZE, len(image))  # from its offset, past the end
    return bytes(image)


def symtab_misaligned(image: bytearray) -> bytes:
    h = _symtab_header(image)
    struct.pack_into("<Q", image, h + SH_OFFSET, struct.unpack_from("<Q", image, h + SH_OFFSET)[0] + 4)
    return bytes(image)


def not_a_function(image: bytearray) -> bytes:
    # do_ud2's symbol typed STT_OBJECT: no function symbol holds the address, the walk ends.
    info = _do_ud2(image)[0] + 4  # st_info, after st_name
    image[info] = (image[info] & 0xF0) | 1
    return bytes(image)


SPOILS: list[tuple[Callable[[bytearray], bytes] | None, str | None]] = [
    (None, "do_ud2+0x"),
    (control_char, "?o_ud2+0x"),
    (sections_misaligned, None),
    (name_past_the_strings, None),
    (sections_past_the_end, None),
    (section_header_size, None),
    (symtab_link_out_of_range, None),
    (symtab_entry_size, None),
    (symtab_past_the_end, None),
    (strings_past_the_end, None),
    (symtab_misaligned, None),
    (not_a_function, None),
]


@pytest.mark.parametrize(("spoil", "symbol"), SPOILS,
                         ids=["control" if s is None else s.__name__.replace("_", "-") for s, _ in SPOILS])
def test_the_crash_record_names_the_function_safely(boot, tmp_path: Path,
                                                   spoil: Callable[[bytearray], bytes] | None,
                                                   symbol: str | None) -> None:
    scen = tmp_path / "fault-ud2.toml"
    scen.write_text(SCENARIO)
    mods = manifest.build_boot_modules(scenario.load(scen), paths.build_dir())
    (image_path, image_name), = [m for m in mods if m[1] == "fault"]
    if spoil:
        bad = tmp_path / "fault"
        bad.write_bytes(spoil(bytearray(image_path.read_bytes())))
        mods = [(bad, image_name) if m[1] == "fault" else m for m in mods]
    result = boot(modules=mods)
    assert_status(result, "SUCCESS")  # the domain was expected to crash
    crash = domlog.parse(result.console).named("fault-ud2").crash
    assert crash is not None and crash.mnemonic == "UD", result.lines[-8:]
    if symbol is None:
        assert crash.symbol is None, crash
    else:
        assert crash.symbol is not None and crash.symbol.startswith(symbol), crash
