# SPDX-License-Identifier: MIT
"""moat.elfcheck: inspect and the W^X / layout rules, on ELFs made by gcc."""

from __future__ import annotations

from pathlib import Path

import pytest

from moat import elfcheck
from moat.elfcheck import Image, Segment
from moat.errors import UserError

from .elfs import build, symbols

R, W, X = 4, 2, 1


def test_good_image_passes(tmp_path: Path):
    image = elfcheck.load(build(tmp_path, "good"))
    assert image.elfclass == 64 and image.machine == "EM_X86_64"
    assert image.entry == symbols(image.path)["_start"]
    assert image.symbols >= 4 and image.functions >= 3
    assert any(s.executable and not s.writable for s in image.loads)
    assert elfcheck.check(image) == []
    text = elfcheck.describe(image)
    assert "entry:" in text and "PT_LOAD" in text and "R-X" in text


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
