# SPDX-License-Identifier: MIT
"""Turn the blocks and edges a boot ran (moat.coverage_trace records) into hv/ source coverage.

From the hypervisor's ELF:
- the DWARF line tables (pyelftools) map every instruction to a source line; a line is
  *coverable* when some instruction of a file under hv/ maps to it, *executed* when one of them ran;
- the machine code, decoded with capstone, tells where each executed block ends (a block that QEMU
  logs runs from its start to the first jump, call, return or halt) and where every conditional
  jump goes: its *taken* successor (the target) and its *fall-through* successor (the next
  instruction). Branch coverage counts both outcomes of every conditional jump in hv/;
- the symbol table gives each instruction its function.

With edges (modes "chain" and "nochain"), an outcome counts as reached when an edge from a block
ending in that jump to that successor was recorded; QEMU chains (and so logs, in "chain" mode) only
jumps within one page, so for a successor on another page than the block, the successor's block
having run counts. Without edges (mode "asm", the default), an outcome counts as reached when a
block started at its successor and nothing else that ran could have started one there: a block
starts only where a jump, call or return lands, after a conditional jump or a call, or at a page
boundary, and all of these are known from the code. When another such way in ran too, the
outcome is *undecided* and counted as not reached (a lower bound; docs/coverage.md).

Branches are keyed by (file, line, n: the n-th conditional jump of that line) so that the records
of different builds of the same source (moat and moat-selftest) add up.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import capstone
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

PAGE = 4096
# The multiboot entry runs in 32-bit protected mode until this symbol (hv/arch/x86_64/boot.S).
CODE32_START, CODE32_END = "_start32", "start64_low"
# Instructions after which a block cannot fall through to the next one in the same translation.
_ENDS = {"jmp", "ljmp", "call", "lcall", "ret", "retf", "lret", "iret", "iretd", "iretq", "syscall", "sysret",
         "sysretq", "sysenter", "sysexit", "int", "int1", "int3", "into", "ud2", "hlt"}
_CONDITIONAL_EXTRA = {"loop", "loope", "loopne", "jrcxz", "jecxz", "jcxz"}

# Test code, compiled only into the test build (CONFIG_SELFTEST): not hypervisor code, so not
# counted (its checks' failure sides never run unless a self-test fails). The code it drives is.
SELFTEST_FILES = frozenset({"hv/arch/x86_64/selftest.c", "hv/core/selftest_lib.c"})

LineKey = tuple[str, int]
BranchKey = tuple[str, int, int]


@dataclass(frozen=True)
class Insn:
    addr: int
    size: int
    mnemonic: str
    target: int | None       # a direct jump's or call's target
    conditional: bool
    ends_block: bool


@dataclass
class Function:
    name: str
    file: str
    lo: int
    hi: int


def is_conditional(mnemonic: str) -> bool:
    return (mnemonic.startswith("j") and mnemonic != "jmp") or mnemonic in _CONDITIONAL_EXTRA


def _leb128(data: bytes, i: int, signed: bool = False) -> tuple[int, int]:
    """The LEB128 number at data[i] (unsigned, or signed: its last byte's bit 6 is the sign), and
    the offset after it."""
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return (value - (1 << shift) if signed and b & 0x40 else value), i


def line_rows(header: Any, section: bytes, start: int, end: int,
              byteorder: Literal["little", "big"] = "little") -> list[tuple[int, int, int, bool]]:
    """The rows of the DWARF line program in section[start:end] whose header (pyelftools' parse) is
    header: (address, file number, line, end of a sequence), in program order.

    The state machine of DWARF 5 section 6.2.5 (versions 2 to 5 share it), with only the registers
    a row's place needs. pyelftools' own decoder (LineProgram.get_entries) gives the same rows at
    ten times the cost: it builds an object and a copy of the state per opcode, and a map of
    build/hv/moat.elf spent most of its time there. DW_LNE_define_file (DWARF 2 to 4, which
    compilers do not emit) is skipped: a file it defines names no hv/ file here."""
    opcode_base, line_base, line_range = header["opcode_base"], header["line_base"], header["line_range"]
    min_len = header["minimum_instruction_length"]
    max_ops = header["maximum_operations_per_instruction"] if header["version"] >= 4 else 1
    operands = header["standard_opcode_lengths"]
    out: list[tuple[int, int, int, bool]] = []
    address = op_index = 0
    file = line = 1
    i = start
    while i < end:
        op = section[i]
        i += 1
        if op >= opcode_base:  # special opcode: advance, add a row
            adjusted = op - opcode_base
            advance = op_index + adjusted // line_range
            address += min_len * (advance // max_ops)
            op_index = advance % max_ops
            line += line_base + adjusted % line_range
            out.append((address, file, line, False))
        elif op == 0:  # extended opcode: its length, then its number and operands
            length, i = _leb128(section, i)
            ext = section[i]
            if ext == 1:  # DW_LNE_end_sequence: a row, then the registers start again
                out.append((address, file, line, True))
                address = op_index = 0
                file = line = 1
            elif ext == 2:  # DW_LNE_set_address
                address = int.from_bytes(section[i + 1:i + length], byteorder)
                op_index = 0
            i += length
        elif op == 1:  # DW_LNS_copy
            out.append((address, file, line, False))
        elif op == 2:  # DW_LNS_advance_pc
            advance, i = _leb128(section, i)
            advance += op_index
            address += min_len * (advance // max_ops)
            op_index = advance % max_ops
        elif op == 3:  # DW_LNS_advance_line
            delta, i = _leb128(section, i, signed=True)
            line += delta
        elif op == 4:  # DW_LNS_set_file
            file, i = _leb128(section, i)
        elif op == 8:  # DW_LNS_const_add_pc: special opcode 255's advance, no row
            advance = op_index + (255 - opcode_base) // line_range
            address += min_len * (advance // max_ops)
            op_index = advance % max_ops
        elif op == 9:  # DW_LNS_fixed_advance_pc: a uhalf
            address += int.from_bytes(section[i:i + 2], byteorder)
            op_index = 0
            i += 2
        else:  # the others change no register kept here: skip their ULEB128 operands
            for _ in range(operands[op - 1]):
                _, i = _leb128(section, i)
    return out


class ElfCode:
    """What one build of the hypervisor is made of: instructions, lines, functions, branches."""

    def __init__(self, elf: Path, root: Path, prefix: str = "hv/") -> None:
        self.elf = elf
        self.root = root
        self.prefix = prefix
        self.insns: dict[int, Insn] = {}
        self.row_addr: list[int] = []            # sorted instruction addresses with a line row
        self.row_line: list[LineKey | None] = []  # their lines (None: not an hv/ file, or a gap)
        self.functions: list[Function] = []
        self._func_lo: list[int] = []
        self._regions: list[tuple[int, int, int]] = []  # lo, hi, capstone mode
        with elf.open("rb") as f:
            ef = ELFFile(f)
            self._load_code(ef)
            self._load_lines(ef)
            self._load_functions(ef)
        self.branches: dict[BranchKey, Insn] = self._branch_keys()
        self._ways_in: dict[int, list[int]] | None = None

    def copy(self) -> ElfCode:
        """This map as it was made: the queries' own additions (instructions decoded at a block start
        the sweep did not align with, which coverable() and ways_in() would then see) are not carried
        over. Everything else is read-only after loading and is shared."""
        other = copy.copy(self)
        other.insns = dict(self.insns)
        other._ways_in = None
        return other

    # ---- loading ----
    def _load_code(self, ef: ELFFile) -> None:
        syms = self._symbols(ef)
        md64 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        md32 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self._md = {64: md64, 32: md32}
        self._data: list[tuple[int, bytes]] = []
        for sec in ef.iter_sections():
            if sec["sh_type"] != "SHT_PROGBITS" or not sec["sh_flags"] & 0x4:  # SHF_EXECINSTR
                continue
            lo, data = sec["sh_addr"], sec.data()
            hi = lo + len(data)
            self._data.append((lo, data))
            s32, e32 = syms.get(CODE32_START), syms.get(CODE32_END)
            if s32 is not None and e32 is not None and lo <= s32 < e32 <= hi:
                self._regions += [(s32, e32, 32), (e32, hi, 64)]
                self._sweep(s32, e32, 32)
                self._sweep(e32, hi, 64)
            else:
                self._regions.append((lo, hi, 64))
                self._sweep(lo, hi, 64)

    @staticmethod
    def _symbols(ef: ELFFile) -> dict[str, int]:
        tab = ef.get_section_by_name(".symtab")
        if not isinstance(tab, SymbolTableSection):
            return {}
        return {s.name: s["st_value"] for s in tab.iter_symbols()}

    def _bytes_at(self, lo: int, hi: int) -> bytes:
        for base, data in self._data:
            if base <= lo and hi <= base + len(data):
                return data[lo - base:hi - base]
        return b""

    @staticmethod
    def _make(address: int, size: int, m: str, op_str: str) -> Insn:
        """An instruction from capstone's disasm_lite tuple (no CsInsn object: a third of the cost)."""
        target = None
        if (m.startswith("j") or m.startswith("call") or m in _CONDITIONAL_EXTRA) and op_str.startswith("0x"):
            try:
                target = int(op_str, 16)
            except ValueError:
                target = None
        cond = is_conditional(m)
        return Insn(address, size, m, target, cond, cond or m in _ENDS)

    def _sweep(self, lo: int, hi: int, bits: int) -> None:
        code = self._bytes_at(lo, hi)
        addr = lo
        insns, make = self.insns, self._make
        while addr < hi:
            n = 0
            for address, size, mnemonic, op_str in self._md[bits].disasm_lite(code[addr - lo:], addr):
                insns[address] = make(address, size, mnemonic, op_str)
                addr = address + size
                n += 1
            if addr < hi:
                addr += 1  # undecodable byte (data in a code section): skip it
            if n == 0 and addr >= hi:
                break

    def _insn_at(self, addr: int) -> Insn | None:
        insn = self.insns.get(addr)
        if insn is not None:
            return insn
        for lo, hi, bits in self._regions:  # a block start the linear sweep did not align with
            if lo <= addr < hi:
                for i in self._md[bits].disasm_lite(self._bytes_at(addr, min(hi, addr + 16)), addr, 1):
                    insn = self._make(*i)
                    self.insns[addr] = insn
                    return insn
        return None

    def _load_lines(self, ef: ELFFile) -> None:
        if not ef.has_dwarf_info():
            return
        dwarf = ef.get_dwarf_info()
        stream = dwarf.debug_line_sec.stream  # the section as pyelftools read it (decompressed)
        stream.seek(0)
        section = stream.read()
        byteorder: Literal["little", "big"] = "little" if ef.little_endian else "big"
        rows: dict[int, LineKey | None] = {}
        for cu in dwarf.iter_CUs():
            lp = dwarf.line_program_for_CU(cu)
            if lp is None:
                continue
            names = self._file_names(lp, cu)
            for address, file, line, end in line_rows(lp.header, section, lp.program_start_offset,
                                                      lp.program_end_offset, byteorder):
                if end:
                    rows.setdefault(address, None)
                    continue
                name = names.get(file)
                key = (name, line) if name is not None and line > 0 else None
                if key is not None or address not in rows:
                    rows[address] = key
        self.row_addr = sorted(rows)
        self.row_line = [rows[a] for a in self.row_addr]

    def _file_names(self, lp, cu) -> dict[int, str | None]:  # type: ignore[no-untyped-def]
        hdr = lp.header
        version = hdr["version"]
        dirs = [d.decode() if isinstance(d, bytes) else str(d) for d in hdr["include_directory"]]
        if version >= 5 and dirs:
            comp = dirs[0]  # DWARF 5: directory 0 is the compilation's, its DW_AT_comp_dir
        else:  # the unit's DIE, which costs its abbreviation table's parse
            comp_dir = cu.get_top_DIE().attributes.get("DW_AT_comp_dir")
            comp = comp_dir.value.decode() if comp_dir is not None else str(self.root)
        out: dict[int, str | None] = {}
        for idx, fe in enumerate(hdr["file_entry"]):
            num = idx if version >= 5 else idx + 1
            di = fe.dir_index
            if version >= 5:
                d = dirs[di] if di < len(dirs) else ""
            else:
                d = comp if di == 0 else (dirs[di - 1] if di - 1 < len(dirs) else "")
            name = fe.name.decode() if isinstance(fe.name, bytes) else str(fe.name)
            full = os.path.normpath(os.path.join(comp, d, name))
            rel = os.path.relpath(full, comp)
            out[num] = rel if rel.startswith(self.prefix) and rel not in SELFTEST_FILES else None
        return out

    def _load_functions(self, ef: ELFFile) -> None:
        tab = ef.get_section_by_name(".symtab")
        if not isinstance(tab, SymbolTableSection):
            return
        funcs = []
        for s in tab.iter_symbols():
            if s["st_info"]["type"] == "STT_FUNC" and s["st_size"] > 0:
                lo = s["st_value"]
                line = self.line_of(lo)
                funcs.append(Function(s.name, line[0] if line else "", lo, lo + s["st_size"]))
        funcs.sort(key=lambda f: f.lo)
        self.functions = funcs
        self._func_lo = [f.lo for f in funcs]

    def _branch_keys(self) -> dict[BranchKey, Insn]:
        out: dict[BranchKey, Insn] = {}
        count: dict[LineKey, int] = defaultdict(int)
        for addr in sorted(self.insns):
            insn = self.insns[addr]
            if not insn.conditional or insn.target is None:
                continue
            line = self.line_of(addr)
            if line is None:
                continue
            n = count[line]
            count[line] += 1
            out[(line[0], line[1], n)] = insn
        return out

    def ways_in(self) -> dict[int, list[int]]:
        """address -> the instructions that can make a block start there (-1: an indirect call)."""
        if self._ways_in is not None:
            return self._ways_in
        ways: dict[int, list[int]] = defaultdict(list)
        prev_end: dict[int, Insn] = {}
        for addr in sorted(self.insns):
            i = self.insns[addr]
            prev_end[addr + i.size] = i
            if i.target is not None:
                ways[i.target].append(addr)               # a direct jump or call lands there
            if i.conditional or i.mnemonic.startswith("call") or i.mnemonic == "hlt":
                ways[addr + i.size].append(addr)          # falls through, or a return lands there
        for fn in self.functions:
            ways[fn.lo].append(-1)                        # may be called through a pointer
        for addr, prev in prev_end.items():
            if addr % PAGE == 0 and prev.mnemonic not in ("jmp", "ret", "iretq", "sysretq", "ud2"):
                ways[addr].append(prev.addr)              # TCG ends a block at a page boundary
        self._ways_in = dict(ways)
        return self._ways_in

    # ---- queries ----
    def line_of(self, addr: int) -> LineKey | None:
        i = bisect.bisect_right(self.row_addr, addr) - 1
        return self.row_line[i] if i >= 0 else None

    def function_of(self, addr: int) -> Function | None:
        i = bisect.bisect_right(self._func_lo, addr) - 1
        if i >= 0 and addr < self.functions[i].hi:
            return self.functions[i]
        return None

    def coverable(self) -> dict[LineKey, list[int]]:
        """Every hv/ line that has code, with the addresses of its instructions."""
        out: dict[LineKey, list[int]] = defaultdict(list)
        for addr, insn in self.insns.items():
            line = self.line_of(addr)
            if line is not None and self._in_row(addr):
                out[line].append(insn.addr)
        return out

    def _in_row(self, addr: int) -> bool:
        """addr lies in a line-table range (not in padding after a sequence's end)."""
        i = bisect.bisect_right(self.row_addr, addr) - 1
        return i >= 0 and self.row_line[i] is not None

    def block(self, start: int, last: int | None = None) -> list[Insn]:
        """The instructions a block starting at `start` runs: up to `last` when QEMU listed the
        block (mode asm), else to its first jump, call, return or halt."""
        out: list[Insn] = []
        addr = start
        while len(out) < 4096:
            insn = self._insn_at(addr)
            if insn is None:
                break
            out.append(insn)
            if (last is not None and addr >= last) or (last is None and insn.ends_block):
                break
            addr += insn.size
        return out


@dataclass
class Run:
    """What the records of one build say ran."""
    code: ElfCode
    blocks: set[int] = field(default_factory=set)
    edges: set[tuple[int, int]] = field(default_factory=set)
    ends: dict[int, int] = field(default_factory=dict)
    modes: set[str] = field(default_factory=set)
    undecided: int = 0

    def block(self, start: int) -> list[Insn]:
        return self.code.block(start, self.ends.get(start))

    def executed_addrs(self) -> set[int]:
        out: set[int] = set()
        for b in self.blocks:
            out.update(i.addr for i in self.block(b))
        return out

    def executed_lines(self) -> set[LineKey]:
        out: set[LineKey] = set()
        for addr in self.executed_addrs():
            line = self.code.line_of(addr)
            if line is not None and self.code._in_row(addr):
                out.add(line)
        return out

    def outcomes(self) -> dict[BranchKey, tuple[bool, bool]]:
        """(taken reached, fall-through reached) for every conditional jump of the build."""
        if self.modes == {"asm"}:
            return self._inferred_outcomes()
        end_of: dict[int, Insn] = {}
        starts_by_end: dict[int, list[int]] = defaultdict(list)
        for b in self.blocks:
            blk = self.block(b)
            if blk:
                end_of[b] = blk[-1]
                starts_by_end[blk[-1].addr].append(b)
        taken: set[int] = set()
        fell: set[int] = set()
        for src, dst in self.edges:
            j = end_of.get(src)
            if j is None or not j.conditional:
                continue
            if dst == j.target:
                taken.add(j.addr)
            if dst == j.addr + j.size:
                fell.add(j.addr)
        out: dict[BranchKey, tuple[bool, bool]] = {}
        chained = self.modes <= {"chain"}
        for key, j in self.code.branches.items():
            t, f = j.addr in taken, j.addr in fell
            if chained:
                # QEMU does not chain (nor log) a jump to another page than its block's start.
                for s in starts_by_end.get(j.addr, ()):
                    if not t and j.target is not None and j.target // PAGE != s // PAGE:
                        t = j.target in self.blocks
                    if not f and (j.addr + j.size) // PAGE != s // PAGE:
                        f = (j.addr + j.size) in self.blocks
            out[key] = (t, f)
        return out


    def _inferred_outcomes(self) -> dict[BranchKey, tuple[bool, bool]]:
        ran = self.executed_addrs()
        ways = self.code.ways_in()
        self.undecided = 0

        def reached(x: int, via: int) -> bool:
            if x not in self.blocks:
                return False
            if all(w == via or (w != -1 and w not in ran) for w in ways.get(x, ())):
                return True
            self.undecided += 1
            return False

        out: dict[BranchKey, tuple[bool, bool]] = {}
        for key, j in self.code.branches.items():
            if j.addr not in ran:
                out[key] = (False, False)
                continue
            assert j.target is not None
            out[key] = (reached(j.target, j.addr), reached(j.addr + j.size, j.addr))
        return out


def load_records(paths: Iterable[Path]) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for p in paths:
        try:
            out.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out
