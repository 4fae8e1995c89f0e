# SPDX-License-Identifier: MIT
"""docs/hypervisor.md's "The anatomy of a hypercall" follows EVTCHNOP_bind_interdomain through the
code as `path:line symbol` references. Each must still name a file whose line holds that symbol,
so the section cannot rot when the code moves: the failure names the reference to fix."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "hypervisor.md"
TITLE = "## The anatomy of a hypercall"
REFERENCE = re.compile(r"`((?:hv|images|boot)/[\w/.-]+):(\d+) (\w+)`")


def section(text: str) -> str:
    """The section's text, up to the next heading of its level."""
    start = text.index(TITLE + "\n")
    end = text.find("\n## ", start + len(TITLE))
    return text[start:end if end >= 0 else len(text)]


def references(text: str) -> list[tuple[str, int, str]]:
    """(path, line, symbol) for every reference, joined across the Markdown's line breaks."""
    return [(m.group(1), int(m.group(2)), m.group(3)) for m in REFERENCE.finditer(" ".join(text.split()))]


def stale(refs: list[tuple[str, int, str]], root: Path = ROOT) -> list[str]:
    """The references whose file is missing or whose line does not hold the symbol as a word."""
    bad = []
    for path, line, symbol in refs:
        file = root / path
        if not file.is_file():
            bad.append(f"{path}:{line} {symbol}: no such file")
            continue
        lines = file.read_text(encoding="utf-8").splitlines()
        if not 1 <= line <= len(lines) or not re.search(rf"(?<!\w){re.escape(symbol)}(?!\w)", lines[line - 1]):
            where = [n for n, text in enumerate(lines, 1) if re.search(rf"(?<!\w){re.escape(symbol)}(?!\w)", text)]
            bad.append(f"{path}:{line} {symbol}: not on that line (it is on {where or 'no line'})")
    return bad


def test_every_reference_points_at_its_symbol():
    refs = references(section(DOC.read_text(encoding="utf-8")))
    assert stale(refs) == []


def test_the_section_follows_the_whole_path():
    """Every hop the section promises: the public header, the syscall entry, the dispatch table,
    the handler, its MAC hook and the way back by sysret."""
    refs = references(section(DOC.read_text(encoding="utf-8")))
    named = {(path, symbol) for path, _, symbol in refs}
    for hop in [("hv/include/public/event_channel.h", "EVTCHNOP_bind_interdomain"),
                ("hv/arch/x86_64/syscall.S", "syscall_entry"),
                ("hv/core/hypercall.c", "hypercall_table"),
                ("hv/core/event_channel.c", "bind_interdomain"),
                ("hv/xsm/acm.c", "xsm_evtchn_interdomain"),
                ("hv/arch/x86_64/syscall.S", "sysretq")]:
        assert hop in named, hop
    # in the order the call takes them
    order = [symbol for _, _, symbol in refs]
    assert order.index("syscall_entry") < order.index("hypercall_table") < order.index("bind_interdomain") \
        < order.index("ste_check") < order.index("sysretq")


def test_a_moved_symbol_is_reported(tmp_path):
    (tmp_path / "hv").mkdir()
    (tmp_path / "hv" / "a.c").write_text("int x;\n\nlong do_thing(void)\n{\n}\n")
    text = (f"{TITLE}\n\nSee `hv/a.c:3 do_thing`, `hv/a.c:1 do_thing`, `hv/b.c:1 y`\nand `hv/a.c:1\nx`.\n\n"
            "## Next\n`hv/a.c:9 z`\n")
    refs = references(section(text))
    assert refs == [("hv/a.c", 3, "do_thing"), ("hv/a.c", 1, "do_thing"), ("hv/b.c", 1, "y"), ("hv/a.c", 1, "x")]
    assert stale(refs, tmp_path) == ["hv/a.c:1 do_thing: not on that line (it is on [3])",
                                     "hv/b.c:1 y: no such file"]


def test_a_symbol_must_match_as_a_whole_word(tmp_path):
    (tmp_path / "hv").mkdir()
    (tmp_path / "hv" / "a.c").write_text("long do_event_channel_op_x(void);\n")
    assert stale([("hv/a.c", 1, "do_event_channel_op")], tmp_path) != []
