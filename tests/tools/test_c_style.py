# SPDX-License-Identifier: MIT
"""The C code's structural rules (DEVELOPERS.md, Style), checked over the whole tree:

- control flow in plain sight: no `return`, `goto`, `break` or `continue` in a macro's body;
- arch code apart: the generic hypervisor (hv/core/, its headers in hv/internal/moat/, hv/xsm/)
  names no x86 detail (inline assembly, control registers, the TSS, segment selectors, page-table
  bits, MSRs, port I/O, the TSC, the register frame's fields, RFLAGS bits, vectors); it calls the
  small functions of hv/arch/x86_64/include/moat/arch.h instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
C_TREES = ("hv", "images", "tests/host", "tests/fuzz")
CONTROL = re.compile(r"\b(return|goto|break|continue)\b")
DEFINE = re.compile(r"^\s*#\s*define\s+(\w+)")
GENERIC = ("hv/core/*.c", "hv/internal/moat/*.h", "hv/xsm/*.[ch]")
X86_DETAILS = {
    "inline assembly": r"\b(__asm__|asm)\b",
    "a control register": r"\b(read|write)_cr\d\b|%%?cr\d",
    "the TSS": r"\btss_\w+|\bTSS\w*",
    "a segment selector": r"\bSEL_\w+",
    "a page-table bit": r"\bPTE_\w+",
    "an MSR": r"\b(rdmsr|wrmsr)\b|\bMSR_\w+",
    "port I/O": r"\b(in|out)[bwl]\b",
    "the TSC": r"\brdtsc\b",
    "a register of the saved frame": r"(\.|->)(r[abcd]x|r[sd]i|r[sbi]p|rflags|r\d+)\b",
    "an RFLAGS bit or a vector": r"\bRFLAGS_\w+|\bVEC_\w+",
}


def c_files() -> list[Path]:
    return sorted(p for top in C_TREES for p in (ROOT / top).rglob("*") if p.suffix in (".c", ".h") and p.is_file())


def hidden_control_flow(text: str) -> list[tuple[int, str]]:
    """(line, macro) for every macro whose body holds a control-flow keyword."""
    found = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = DEFINE.match(lines[i])
        if not m:
            i += 1
            continue
        start, body = i, [lines[i][m.end():]]
        while lines[i].rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            body.append(lines[i])
        code = re.sub(r"/\*.*?\*/|//.*", "", "\n".join(body), flags=re.S)
        if CONTROL.search(code):
            found.append((start + 1, m.group(1)))
        i += 1
    return found


def test_no_macro_hides_control_flow():
    bad = [f"{p.relative_to(ROOT)}:{line}: {name}" for p in c_files()
           for line, name in hidden_control_flow(p.read_text(errors="replace"))]
    assert bad == []


@pytest.mark.parametrize("text", [
    "#define WITH_ARG(t, c) do { if (x) return -1; } while (0)\n",
    "#define BATCH(t) \\\n    for (;;) {           \\\n        goto out;        \\\n    }\n",
    "#define NEXT continue\n",
])
def test_a_planted_macro_is_found(text):
    assert hidden_control_flow(text) != []


def test_a_comment_or_a_name_is_not_control_flow():
    assert hidden_control_flow("#define RETURNS 1 /* returns nothing */\n#define BREAKPOINT 3\n") == []


def x86_details(text: str) -> list[tuple[int, str]]:
    """(line, what) for every x86 detail the code (not its comments) names."""
    code = re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return [(n, what) for n, line in enumerate(code.splitlines(), 1)
            for what, pattern in X86_DETAILS.items() if re.search(pattern, line)]


def test_generic_code_names_no_x86_detail():
    files = sorted(p for pattern in GENERIC for p in ROOT.glob(pattern))
    assert len(files) > 30
    bad = [f"{p.relative_to(ROOT)}:{line}: {what}" for p in files for line, what in x86_details(p.read_text())]
    assert bad == []


@pytest.mark.parametrize("line, what", [
    ("write_cr3(next->pml4 << PAGE_SHIFT);", "a control register"),
    ("if ((read_cr3() & PTE_ADDR_MASK) != root)", "a control register"),
    ("tss_set_rsp0(cpu->cur_regs_top);", "the TSS"),
    ("r->cs = SEL_UCODE | 3;", "a segment selector"),
    ("gpt_map(d, va, mfn, PTE_W | PTE_NX);", "a page-table bit"),
    ("uint64_t now = rdtsc();", "the TSC"),
    ("r->rflags = (f.rflags & 0xcd5) | RFLAGS_IF | 2;", "a register of the saved frame"),
    ("r->vector = VEC_TIMER;", "an RFLAGS bit or a vector"),
    ('__asm__ volatile("rep stosq" : "+D"(page));', "inline assembly"),
    ("outb(0x3f8, c);", "port I/O"),
    ("wrmsr(MSR_EFER, v);", "an MSR"),
])
def test_a_planted_x86_detail_is_found(line, what):
    assert (1, what) in x86_details(line + "\n")


def test_a_comment_or_an_arch_call_is_no_x86_detail():
    text = "/* write_cr3 and the TSS are arch's */\narch_switch_to(cpu, next, &why); // PTE_W\nd->pml4 = 0;\n"
    assert x86_details(text) == []
