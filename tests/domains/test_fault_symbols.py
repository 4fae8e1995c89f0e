# SPDX-License-Identifier: MIT
"""The function name in a crash record comes from the guest's own symbol table (elf_symbolize in
hv/core/elf.c), which the guest wrote: it is read with bounds checks and printed with nothing raw.
A fault guest (fault=ud2, so the record names do_ud2) with its symbol table spoilt three ways: a
control character in the name is shown as '?', and a section table or a name offset that points
outside the image gives a record without a name. The domain still crashes alone, as expected."""

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


@pytest.mark.parametrize(("spoil", "symbol"), [
    (None, "do_ud2+0x"),
    (control_char, "?o_ud2+0x"),
    (sections_misaligned, None),
    (name_past_the_strings, None),
], ids=["control", "control-char", "sections-misaligned", "name-past-the-strings"])
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
