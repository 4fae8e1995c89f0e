# SPDX-License-Identifier: MIT
"""Add up the coverage records of a run and report them: terminal summary, HTML, JSON, test map.

The JSON (`moat coverage --json FILE`, and always build/coverage/coverage.json):
    {"hv": {"lines_percent", "branches_percent", "lines_hit", "lines_total", "branches_hit",
            "branches_total", "boots"},
     "tools": {"lines_percent", "lines_hit", "lines_total"},
     "files": {"hv/core/sched.c": {"lines_percent", "lines_hit", "lines_total", "branches_percent",
               "branches_hit", "branches_total", "missed_lines": [...],
               "functions": {"do_iret": {"lines_hit", "lines_total", "lines_percent"}, ...}}, ...}}
build/coverage/tests.json maps each test to the hv/ lines its boots ran (moat mutate reads it).
"""

from __future__ import annotations

import html
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moat import coverage_map, coverage_trace
from moat.coverage_map import BranchKey, ElfCode, LineKey, Run


def percent(hit: int, total: int) -> float:
    return round(100.0 * hit / total, 2) if total else 100.0


@dataclass
class HvCoverage:
    coverable: set[LineKey] = field(default_factory=set)
    executed: set[LineKey] = field(default_factory=set)
    branches: dict[BranchKey, list[bool]] = field(default_factory=dict)
    functions: dict[tuple[str, str], set[LineKey]] = field(default_factory=dict)  # (file, name) -> lines
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    boots: int = 0
    stale: int = 0
    undecided: int = 0   # asm mode: outcomes whose successor ran but another way in ran too
    modes: set[str] = field(default_factory=set)
    incomplete: int = 0  # plugin mode: boots whose QEMU was killed before the plugin could write


# Maps already made: (ELF path, its SHA-256, root) -> its ElfCode as loaded. Making one is most of
# an analysis (the DWARF line table and the disassembly: 0.25 s of CPU for build/hv/moat.elf).
ElfCodes = dict[tuple[str, str, str], ElfCode]


def elf_code(elf: Path, root: Path, codes: ElfCodes | None = None, sha: str | None = None) -> ElfCode:
    """The map of elf (whose SHA-256 is sha, when known), as ElfCode(elf, root) makes it: a copy of
    the one in codes made for the same file with the same content, else made (and kept there)."""
    if codes is None:
        return ElfCode(elf, root)
    key = (str(elf.resolve()), sha or coverage_trace.file_sha256(elf), str(root))
    made = codes.get(key)
    if made is None:
        made = codes[key] = ElfCode(elf, root)
    return made.copy()


def analyse(raw_dir: Path, root: Path, codes: ElfCodes | None = None) -> HvCoverage:
    """All records under raw_dir, grouped by the ELF they ran, added up over hv/. codes: maps made
    before (elf_code), for a caller that analyses several sets of records of one build."""
    out = HvCoverage()
    by_elf: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in coverage_map.load_records(sorted(raw_dir.glob("*.json"))):
        by_elf[rec["elf"]].append(rec)
    test_lines: dict[str, set[LineKey]] = defaultdict(set)
    test_seconds: dict[str, float] = defaultdict(float)
    for elf_name, recs in sorted(by_elf.items()):
        elf = Path(elf_name)
        if not elf.is_file():
            out.stale += len(recs)
            continue
        sha = coverage_trace.file_sha256(elf)
        fresh = [r for r in recs if r.get("elf_sha256") == sha]
        out.stale += len(recs) - len(fresh)
        if not fresh:
            continue
        code = elf_code(elf, root, codes, sha)
        cov = code.coverable()
        out.coverable.update(cov)
        run = Run(code)
        block_lines: dict[tuple[int, int | None], set[LineKey]] = {}
        for rec in fresh:
            out.boots += 1
            out.incomplete += rec.get("complete") is False
            run.blocks.update(rec["blocks"])
            run.edges.update((a, b) for a, b in rec["edges"])
            run.modes.add(rec["mode"])
            ends = {a: b for a, b in rec.get("ends", [])}
            for a, b in ends.items():
                run.ends[a] = max(b, run.ends.get(a, b))
            lines: set[LineKey] = set()
            for b in rec["blocks"]:
                key = (b, ends.get(b))
                got = block_lines.get(key)
                if got is None:
                    got = {ln for i in code.block(b, ends.get(b))
                           if (ln := code.line_of(i.addr)) is not None and ln in cov}
                    block_lines[key] = got
                lines |= got
            test = rec.get("test") or "(outside pytest)"
            test_lines[test] |= lines
            test_seconds[test] += float(rec.get("seconds", 0.0))
        out.modes |= run.modes
        out.executed |= run.executed_lines() & set(cov)
        for bkey, (taken, fell) in run.outcomes().items():
            prev = out.branches.setdefault(bkey, [False, False])
            prev[0] |= taken
            prev[1] |= fell
        out.undecided += run.undecided
        for fn in code.functions:
            fn_lines = {code.line_of(i) for i in range(fn.lo, fn.hi) if i in code.insns}
            own = {ln for ln in fn_lines if ln is not None and ln[0] == fn.file and ln in cov}
            if own:
                out.functions.setdefault((fn.file, fn.name), set()).update(own)
    for test, ran in test_lines.items():
        by_file: dict[str, list[int]] = defaultdict(list)
        for path, line_no in sorted(ran):
            by_file[path].append(line_no)
        out.tests[test] = {"seconds": round(test_seconds[test], 3), "lines": dict(by_file)}
    return out


def summary(hv: HvCoverage, tools: dict[str, Any] | None) -> dict[str, Any]:
    files: dict[str, dict[str, Any]] = {}
    per_file_lines: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed: dict[str, list[int]] = defaultdict(list)
    for f, ln in hv.coverable:
        per_file_lines[f][1] += 1
        if (f, ln) in hv.executed:
            per_file_lines[f][0] += 1
        else:
            missed[f].append(ln)
    per_file_br: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (f, _ln, _n), (t, fl) in hv.branches.items():
        per_file_br[f][0] += int(t) + int(fl)
        per_file_br[f][1] += 2
    funcs: dict[str, dict[str, Any]] = defaultdict(dict)
    for (f, name), lines in hv.functions.items():
        hit = len(lines & hv.executed)
        funcs[f][name] = {"lines_hit": hit, "lines_total": len(lines), "lines_percent": percent(hit, len(lines))}
    for f in sorted(per_file_lines):
        lh, lt = per_file_lines[f]
        bh, bt = per_file_br.get(f, [0, 0])
        files[f] = {"lines_percent": percent(lh, lt), "lines_hit": lh, "lines_total": lt,
                    "branches_percent": percent(bh, bt), "branches_hit": bh, "branches_total": bt,
                    "missed_lines": sorted(missed[f]), "functions": dict(sorted(funcs[f].items()))}
    lh = len(hv.executed)
    lt = len(hv.coverable)
    bh = sum(int(t) + int(f) for t, f in hv.branches.values())
    bt = 2 * len(hv.branches)
    out: dict[str, Any] = {
        "hv": {"lines_percent": percent(lh, lt), "branches_percent": percent(bh, bt), "lines_hit": lh,
               "lines_total": lt, "branches_hit": bh, "branches_total": bt, "boots": hv.boots,
               "mode": "+".join(sorted(hv.modes)) or None, "branches_undecided": hv.undecided,
               "boots_unrecorded": hv.incomplete},
        "tools": tools or {"lines_percent": None},
        "files": files,
    }
    return out


def terminal(data: dict[str, Any], *, width_files: int = 40) -> str:
    from tabulate import tabulate

    rows = []
    for f, d in data["files"].items():
        rows.append([f, f"{d['lines_hit']}/{d['lines_total']}", f"{d['lines_percent']:.1f}",
                     f"{d['branches_hit']}/{d['branches_total']}", f"{d['branches_percent']:.1f}"])
    hv = data["hv"]
    rows.append(["hv/ (all)", f"{hv['lines_hit']}/{hv['lines_total']}", f"{hv['lines_percent']:.1f}",
                 f"{hv['branches_hit']}/{hv['branches_total']}", f"{hv['branches_percent']:.1f}"])
    text = tabulate(rows, headers=["file", "lines", "%", "branch outcomes", "%"], tablefmt="simple",
                    colalign=("left", "right", "right", "right", "right"))
    tools = data.get("tools") or {}
    if tools.get("lines_percent") is not None:
        text += (f"\ntools/moat (Python, coverage.py): {tools['lines_hit']}/{tools['lines_total']} lines, "
                 f"{tools['lines_percent']:.1f} %")
    text += f"\n{hv['boots']} boots recorded ({hv['mode']} mode)"
    if hv.get("boots_unrecorded"):
        text += (f"; {hv['boots_unrecorded']} of them left no record (QEMU was killed before the plugin "
                 "could write it): what they ran is not counted")
    if hv.get("branches_undecided"):
        text += (f"; {hv['branches_undecided']} branch outcomes undecided (their successor ran, but so did "
                 "another way in), counted as not reached")
    return text


# ---- HTML ----
_CSS = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}
pre{margin:0}.src td{border:none;padding:0 6px;font-family:monospace;white-space:pre;text-align:left}
.hit{background:#dfd}.miss{background:#fdd}.part{background:#ffd}.n{color:#888;text-align:right}
.bar{display:inline-block;height:10px;background:#6b6}.barbg{display:inline-block;width:100px;height:10px;background:#e66}"""


def _bar(p: float) -> str:
    return f'<span class="barbg"><span class="bar" style="width:{int(p)}px"></span></span>'


def write_html(data: dict[str, Any], hv: HvCoverage, root: Path, out_dir: Path, python_html: Path | None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    src_dir = out_dir / "hv"
    src_dir.mkdir(exist_ok=True)
    branches_by_line: dict[LineKey, list[list[bool]]] = defaultdict(list)
    for (f, ln, _n), tf in sorted(hv.branches.items()):
        branches_by_line[(f, ln)].append(tf)
    rows = []
    for f, d in data["files"].items():
        page = f.replace("/", "_") + ".html"
        rows.append(f'<tr><td><a href="hv/{page}">{html.escape(f)}</a></td><td>{d["lines_hit"]}/{d["lines_total"]}'
                    f'</td><td>{_bar(d["lines_percent"])} {d["lines_percent"]:.1f}</td><td>{d["branches_hit"]}/'
                    f'{d["branches_total"]}</td><td>{_bar(d["branches_percent"])} '
                    f'{d["branches_percent"]:.1f}</td></tr>')
        _write_source(src_dir / page, f, d, root, hv, branches_by_line)
    hvd = data["hv"]
    tools = data.get("tools") or {}
    py = ""
    if tools.get("lines_percent") is not None:
        link = os.path.relpath(python_html, out_dir) if python_html else ""
        py = (f'<p>Python tools (tools/moat, coverage.py): {tools["lines_percent"]:.1f} % of lines'
              + (f' &mdash; <a href="{html.escape(link)}/index.html">annotated</a>' if link else "") + "</p>")
    index = out_dir / "index.html"
    index.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>moat coverage</title><style>{_CSS}</style>"
        f"</head><body><h1>moat coverage</h1><p>hv/: {hvd['lines_percent']:.1f} % of lines "
        f"({hvd['lines_hit']}/{hvd['lines_total']}), {hvd['branches_percent']:.1f} % of branch outcomes "
        f"({hvd['branches_hit']}/{hvd['branches_total']}) over {hvd['boots']} boots.</p>{py}"
        "<table><tr><th>file</th><th>lines</th><th>%</th><th>branch outcomes</th><th>%</th></tr>"
        + "".join(rows) + "</table></body></html>\n", encoding="utf-8")
    return index


def _write_source(path: Path, f: str, d: dict[str, Any], root: Path, hv: HvCoverage,
                  branches_by_line: dict[LineKey, list[list[bool]]]) -> None:
    try:
        lines = (root / f).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    body = []
    for n, text in enumerate(lines, 1):
        key = (f, n)
        cls = ""
        note = ""
        if key in hv.coverable:
            cls = "hit" if key in hv.executed else "miss"
        br = branches_by_line.get(key)
        if br:
            reached = sum(int(t) + int(fl) for t, fl in br)
            total = 2 * len(br)
            note = f"{reached}/{total}"
            if cls == "hit" and reached < total:
                cls = "part"
        body.append(f'<tr class="{cls}"><td class="n">{n}</td><td class="n">{note}</td>'
                    f"<td>{html.escape(text)}</td></tr>")
    funcs = "".join(f"<tr><td>{html.escape(name)}</td><td>{v['lines_hit']}/{v['lines_total']}</td>"
                    f"<td>{v['lines_percent']:.1f}</td></tr>" for name, v in d["functions"].items())
    path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(f)}</title><style>{_CSS}</style>"
        f"</head><body><p><a href='../index.html'>index</a></p><h1>{html.escape(f)}</h1>"
        f"<p>{d['lines_percent']:.1f} % of lines, {d['branches_percent']:.1f} % of branch outcomes. Green: ran; "
        "red: never ran; yellow: ran, but a conditional jump on it went only one way (second column: "
        "outcomes reached/all).</p><table><tr><th>function</th><th>lines</th><th>%</th></tr>"
        f"{funcs}</table><br><table class='src'>\n" + "\n".join(body) + "\n</table></body></html>\n",
        encoding="utf-8")


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
