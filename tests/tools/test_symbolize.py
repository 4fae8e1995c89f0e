# SPDX-License-Identifier: MIT
"""moat.symbolize: addresses in a log become function+offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from moat.errors import UserError
from moat.symbolize import SymbolTable, annotate

from .elfs import build, symbols


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = build(tmp_path_factory.mktemp("sym"), "tiny")
    return path, symbols(path)


def test_address_inside_function(tiny):
    path, syms = tiny
    table = SymbolTable.from_elf(path)
    assert table.lookup(syms["func_b"]) == ("func_b", 0)
    assert table.lookup(syms["func_b"] + 3) == ("func_b", 3)
    assert table.format(syms["func_a"] + 1) == "func_a+0x1"


def test_label_without_size_uses_nearest_symbol(tiny):
    path, syms = tiny
    table = SymbolTable.from_elf(path)
    assert table.lookup(syms["bare_label"] + 2) == ("bare_label", 2)


def test_annotate_log(tiny):
    path, syms = tiny
    table = SymbolTable.from_elf(path)
    b = syms["func_b"] + 5
    data = syms["counter"]
    log = (f"*** EXCEPTION 14 #PF page fault err=0x2\n"
           f"rip=0x{b:016x} rsp=0x{data:016x} rflags=0x0000000000000006\n"
           f"  0x{syms['_start']:016x}\n"
           f"short 0x{b:x} long 0x{b:016x}0\n")
    out = annotate(log, table).splitlines()
    assert out[0] == "*** EXCEPTION 14 #PF page fault err=0x2"
    assert out[1] == f"rip=0x{b:016x} <func_b+0x5> rsp=0x{data:016x} rflags=0x0000000000000006"
    assert out[2] == f"  0x{syms['_start']:016x} <_start+0x0>"
    assert out[3] == f"short 0x{b:x} long 0x{b:016x}0", "only exactly 16 hex digits are addresses"


def test_not_an_elf(tmp_path: Path):
    path = tmp_path / "log.txt"
    path.write_text("x")
    with pytest.raises(UserError, match="not an ELF"):
        SymbolTable.from_elf(path)
