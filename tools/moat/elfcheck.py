# SPDX-License-Identifier: MIT
"""Inspect and validate ELF images (the hypervisor and guest images) with pyelftools.

check() enforces what the hypervisor's loader relies on: every loadable
segment is writable or executable but not both (W^X), carries no more file
bytes than memory bytes, lies inside the allowed address window and overlaps
no other; the entry point lies in an executable segment.

The symbol table is none of that: the loader never reads it, and the one use the hypervisor makes
of it, naming the function of a faulting guest (elf_symbolize in hv/core/elf.c), checks every
bound and names nothing when the table is damaged (tests/domains/test_fault_symbols.py). So load()
counts symbols only when asked (`moat image inspect` shows the counts); staging a boot does not,
and a damaged symbol table stops only the inspection.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from moat.errors import UserError

ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class Segment:
    type: str
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    flags: int

    @property
    def readable(self) -> bool:
        return bool(self.flags & P_FLAGS.PF_R)

    @property
    def writable(self) -> bool:
        return bool(self.flags & P_FLAGS.PF_W)

    @property
    def executable(self) -> bool:
        return bool(self.flags & P_FLAGS.PF_X)

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz

    @property
    def flag_text(self) -> str:
        return ("R" if self.readable else "-") + ("W" if self.writable else "-") + (
            "X" if self.executable else "-")

    @property
    def loadable(self) -> bool:
        return self.type == "PT_LOAD"


@dataclass
class Image:
    path: Path
    elfclass: int
    machine: str
    type: str
    entry: int
    segments: list[Segment] = field(default_factory=list)
    symbols: int | None = None    # named symbols and, of them, functions: None when not counted
    functions: int | None = None

    @property
    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.loadable]

    @property
    def address_range(self) -> tuple[int, int] | None:
        loads = [s for s in self.loads if s.memsz]
        if not loads:
            return None
        return min(s.vaddr for s in loads), max(s.end for s in loads)


def open_elf(stream: BinaryIO, path: Path) -> ELFFile:
    """ELFFile for stream, or a UserError that says why the file is not a usable ELF."""
    magic = stream.read(4)
    stream.seek(0)
    if magic != ELF_MAGIC:
        raise UserError(f"{path}: not an ELF file")
    try:
        return ELFFile(stream)
    except Exception as exc:  # pyelftools raises several types for damaged files
        raise UserError(f"{path}: damaged ELF file: {exc}") from None


def load(path: Path | str, data: bytes | None = None, *, symbols: bool = False) -> Image:
    """Read the headers of an ELF file (from data, its bytes as already read, if given), and with
    symbols, count its named symbols and functions (.symtab, else .dynsym)."""
    path = Path(path)
    try:
        stream: BinaryIO = io.BytesIO(data) if data is not None else path.open("rb")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    with stream:
        elf = open_elf(stream, path)
        try:
            image = Image(path=path, elfclass=elf.elfclass, machine=elf["e_machine"],
                          type=elf["e_type"], entry=elf["e_entry"])
            for seg in elf.iter_segments():
                image.segments.append(Segment(
                    type=seg["p_type"] if isinstance(seg["p_type"], str) else hex(seg["p_type"]),
                    offset=seg["p_offset"], vaddr=seg["p_vaddr"], paddr=seg["p_paddr"],
                    filesz=seg["p_filesz"], memsz=seg["p_memsz"], flags=seg["p_flags"]))
            if symbols:
                image.symbols, image.functions = _count_symbols(elf)
        except Exception as exc:  # truncated or inconsistent headers, or a damaged symbol table
            raise UserError(f"{path}: damaged ELF file: {exc}") from None
    return image


def _count_symbols(elf: ELFFile) -> tuple[int, int]:
    """(named symbols, of them functions) of the symbol table (.symtab, else .dynsym; none: 0, 0).
    Four fifths of a guest's load when counted, which is why load() counts only when asked."""
    named = functions = 0
    symtab = elf.get_section_by_name(".symtab") or elf.get_section_by_name(".dynsym")
    if symtab is not None and hasattr(symtab, "iter_symbols"):
        for sym in symtab.iter_symbols():
            if not sym.name:
                continue
            named += 1
            if sym["st_info"]["type"] == "STT_FUNC":
                functions += 1
    return named, functions


def parse_window(text: str) -> tuple[int, int]:
    """'LO:HI' (each decimal or 0x-hex) -> (lo, hi), with lo < hi."""
    lo_text, sep, hi_text = text.partition(":")
    try:
        if not sep:
            raise ValueError
        lo, hi = int(lo_text, 0), int(hi_text, 0)
    except ValueError:
        raise UserError(f"--window {text!r}: expected LO:HI, e.g. 0x400000:0x800000") from None
    if not 0 <= lo < hi:
        raise UserError(f"--window {text!r}: LO must be below HI")
    return lo, hi


def check(image: Image, window: tuple[int, int] | None = None) -> list[str]:
    """Every rule the image breaks, as one message each (empty: the image is fine)."""
    problems: list[str] = []
    if image.elfclass != 64 or image.machine != "EM_X86_64":
        problems.append(f"not an x86-64 ELF64 image (ELF{image.elfclass}, {image.machine})")
    loads = image.loads
    if not loads:
        problems.append("no loadable (PT_LOAD) segment")
    for i, seg in enumerate(image.segments):
        if not seg.loadable:
            continue
        name = f"segment {i} [{seg.vaddr:#x}-{seg.end:#x}) {seg.flag_text}"
        if seg.writable and seg.executable:
            problems.append(f"{name}: both writable and executable (W^X)")
        if seg.filesz > seg.memsz:
            problems.append(f"{name}: file size {seg.filesz:#x} exceeds memory size {seg.memsz:#x}")
        if window is not None and seg.memsz and not (window[0] <= seg.vaddr
                                                     and seg.end <= window[1]):
            problems.append(f"{name}: outside the window [{window[0]:#x}-{window[1]:#x})")
    ordered = sorted((s for s in loads if s.memsz), key=lambda s: s.vaddr)
    for a, b in itertools.pairwise(ordered):
        if b.vaddr < a.end:
            problems.append(f"segments [{a.vaddr:#x}-{a.end:#x}) and "
                            f"[{b.vaddr:#x}-{b.end:#x}) overlap")
    if not any(s.executable and s.vaddr <= image.entry < s.end for s in loads):
        problems.append(f"entry point {image.entry:#x} is not inside an executable segment")
    return problems


def describe(image: Image) -> str:
    """Human-readable summary for `moat image inspect`."""
    lines = [
        f"file:     {image.path}",
        f"class:    ELF{image.elfclass}, {image.machine}, {image.type}",
        f"entry:    {image.entry:#x}",
    ]
    rng = image.address_range
    if rng:
        lines.append(f"range:    [{rng[0]:#x}-{rng[1]:#x}) ({rng[1] - rng[0]} bytes)")
    if image.symbols is not None:
        lines.append(f"symbols:  {image.symbols} ({image.functions} functions)")
    lines.append("segments:")
    lines.append(f"  {'type':<16} {'flags':<5} {'vaddr':>18} {'memsz':>10} {'filesz':>10} "
                 f"{'offset':>10}")
    for seg in image.segments:
        lines.append(f"  {seg.type:<16} {seg.flag_text:<5} {seg.vaddr:#18x} {seg.memsz:#10x} "
                     f"{seg.filesz:#10x} {seg.offset:#10x}")
    return "\n".join(lines)
