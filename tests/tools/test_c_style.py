# SPDX-License-Identifier: MIT
"""The C code's structural rules (DEVELOPERS.md, Style), checked over the whole tree:

- control flow in plain sight: no `return`, `goto`, `break` or `continue` in a macro's body."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
C_TREES = ("hv", "images", "tests/host", "tests/fuzz")
CONTROL = re.compile(r"\b(return|goto|break|continue)\b")
DEFINE = re.compile(r"^\s*#\s*define\s+(\w+)")


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
