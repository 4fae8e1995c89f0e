# SPDX-License-Identifier: MIT
"""Turn addresses in a console log into function+offset, using an ELF's symbols.

Every `0x` followed by exactly 16 hex digits that falls inside a function
symbol (STT_FUNC with its size) gets ` <func+0xoff>` appended. An address in
an executable section that no sized function covers gets the nearest symbol
below it instead (assembly labels often have no size). Other addresses (data,
stacks) are left alone.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS

from moat.elfcheck import open_elf
from moat.errors import UserError

ADDRESS = re.compile(r"\b0x([0-9a-fA-F]{16})(?![0-9a-fA-F])")


@dataclass(frozen=True)
class Symbol:
    name: str
    address: int
    size: int


class SymbolTable:
    def __init__(self, functions: list[Symbol], labels: list[Symbol],
                 text_ranges: list[tuple[int, int]]) -> None:
        self._functions = sorted(functions, key=lambda s: s.address)
        self._func_starts = [s.address for s in self._functions]
        self._labels = sorted(labels, key=lambda s: s.address)
        self._label_starts = [s.address for s in self._labels]
        self._text = text_ranges

    @classmethod
    def from_elf(cls, path: Path | str) -> SymbolTable:
        path = Path(path)
        try:
            stream = path.open("rb")
        except FileNotFoundError:
            raise UserError(f"{path}: no such file (run ./moat build first)") from None
        with stream:
            elf = open_elf(stream, path)
            functions: list[Symbol] = []
            labels: list[Symbol] = []
            text: list[tuple[int, int]] = []
            for section in elf.iter_sections():
                flags = section["sh_flags"]
                if flags & SH_FLAGS.SHF_ALLOC and flags & SH_FLAGS.SHF_EXECINSTR:
                    text.append((section["sh_addr"], section["sh_addr"] + section["sh_size"]))
            symtab = elf.get_section_by_name(".symtab")
            if symtab is None or not hasattr(symtab, "iter_symbols"):
                raise UserError(f"{path}: has no symbol table")
            for sym in symtab.iter_symbols():
                kind = sym["st_info"]["type"]
                if not sym.name or sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS"):
                    continue
                entry = Symbol(sym.name, sym["st_value"], sym["st_size"])
                if kind == "STT_FUNC" and entry.size:
                    functions.append(entry)
                if kind in ("STT_FUNC", "STT_NOTYPE"):
                    labels.append(entry)
        return cls(functions, labels, text)

    def lookup(self, address: int) -> tuple[str, int] | None:
        """(name, offset) for address, or None when it is not in code."""
        i = bisect.bisect_right(self._func_starts, address) - 1
        # Sized functions may nest (aliases); look back over those starting at the same place.
        while i >= 0:
            sym = self._functions[i]
            if sym.address <= address < sym.address + sym.size:
                return sym.name, address - sym.address
            if i > 0 and self._functions[i - 1].address == sym.address:
                i -= 1
                continue
            break
        if not any(lo <= address < hi for lo, hi in self._text):
            return None
        j = bisect.bisect_right(self._label_starts, address) - 1
        if j < 0:
            return None
        sym = self._labels[j]
        return sym.name, address - sym.address

    def format(self, address: int) -> str | None:
        found = self.lookup(address)
        if found is None:
            return None
        name, offset = found
        return f"{name}+{offset:#x}"


def annotate_line(line: str, table: SymbolTable) -> str:
    def replace(m: re.Match[str]) -> str:
        where = table.format(int(m.group(1), 16))
        return m.group(0) if where is None else f"{m.group(0)} <{where}>"

    return ADDRESS.sub(replace, line)


def annotate(text: str, table: SymbolTable) -> str:
    return "".join(annotate_line(line, table) for line in text.splitlines(keepends=True))
