# SPDX-License-Identifier: MIT
"""moat.elfcheck: inspect and the W^X / layout rules, on ELFs made by gcc."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from moat import elfcheck
from moat.elfcheck import Image, Segment
from moat.errors import UserError

from .elfs import build, symbols

R, W, X = 4, 2, 1


def test_good_image_passes(tmp_path: Path):
    image = elfcheck.load(build(tmp_path, "good"), symbols=True)
    assert image.elfclass == 64 and image.machine == "EM_X86_64"
    assert image.entry == symbols(image.path)["_start"]
    # _start, func_a, func_b, bare_label, counter (and the file's name): three of them functions
    assert image.symbols is not None and image.symbols >= 5 and image.functions == 3
    assert any(s.executable and not s.writable for s in image.loads)
    assert elfcheck.check(image) == []
    text = elfcheck.describe(image)
    assert "entry:" in text and "PT_LOAD" in text and "R-X" in text
    assert f"symbols:  {image.symbols} (3 functions)" in text
    plain = elfcheck.load(image.path)  # what staging a boot reads: the same, symbols not counted
    assert (plain.symbols, plain.functions) == (None, None) and "symbols:" not in elfcheck.describe(plain)
    assert plain.segments == image.segments and plain.entry == image.entry


def test_a_damaged_symbol_table_stops_only_the_inspection(tmp_path: Path):
    """The loader never reads the symbol table, and the hypervisor names no function from a damaged
    one (tests/domains/test_fault_symbols.py): the checks pass such an image, inspecting it says
    the file is damaged."""
    good = build(tmp_path, "good")
    data = bytearray(good.read_bytes())
    elf = ELFFile(io.BytesIO(bytes(data)))
    index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".symtab")
    header = elf["e_shoff"] + index * elf["e_shentsize"]
    struct.pack_into("<Q", data, header + 24, len(data) + 0x1000)  # sh_offset: past the end
    bad = tmp_path / "bad-symtab"
    bad.write_bytes(bytes(data))
    image = elfcheck.load(bad)
    assert elfcheck.check(image) == [] and image.segments == elfcheck.load(good).segments
    with pytest.raises(UserError, match="damaged ELF"):
        elfcheck.load(bad, symbols=True)


def test_writable_and_executable_segment_is_refused(tmp_path: Path):
    # -N (--omagic) puts text and data into one read-write-execute segment.
    image = elfcheck.load(build(tmp_path, "omagic", "-N"))
    problems = elfcheck.check(image)
    assert any("W^X" in p for p in problems), problems


def test_entry_outside_code_is_refused(tmp_path: Path):
    image = elfcheck.load(build(tmp_path, "badentry", entry="counter"))
    problems = elfcheck.check(image)
    assert any("entry point" in p for p in problems), problems


def test_window(tmp_path: Path):
    image = elfcheck.load(build(tmp_path, "good"))
    assert image.address_range is not None
    lo, hi = image.address_range
    assert elfcheck.check(image, (lo, hi)) == []
    problems = elfcheck.check(image, (lo + 0x1000, hi))
    assert any("outside the window" in p for p in problems), problems


def test_overlap_and_file_size_rules():
    segs = [Segment("PT_LOAD", 0, 0x1000, 0x1000, 0x100, 0x2000, R | X),
            Segment("PT_LOAD", 0, 0x2000, 0x2000, 0x300, 0x200, R | W)]
    image = Image(Path("x"), 64, "EM_X86_64", "ET_EXEC", 0x1000, segs)
    problems = elfcheck.check(image)
    assert any("overlap" in p for p in problems), problems
    assert any("exceeds memory size" in p for p in problems), problems
    assert not any("entry" in p for p in problems)


def test_not_an_elf_file(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(UserError, match="not an ELF file"):
        elfcheck.load(path)


def test_truncated_elf_file(tmp_path: Path):
    whole = build(tmp_path, "good").read_bytes()
    path = tmp_path / "cut"
    path.write_bytes(whole[:40])
    with pytest.raises(UserError, match="damaged ELF"):
        elfcheck.load(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(UserError, match="no such file"):
        elfcheck.load(tmp_path / "nope")


@pytest.mark.parametrize("text,expected", [("0x1000:0x2000", (0x1000, 0x2000)), ("0:4096", (0, 4096))])
def test_parse_window(text, expected):
    assert elfcheck.parse_window(text) == expected


@pytest.mark.parametrize("text", ["0x1000", "x:y", "0x2000:0x1000", ":"])
def test_parse_window_errors(text):
    with pytest.raises(UserError, match="--window"):
        elfcheck.parse_window(text)
