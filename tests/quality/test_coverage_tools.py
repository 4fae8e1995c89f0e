# SPDX-License-Identifier: MIT
"""moat coverage's parts on known input: a tiny ELF whose line table is written by hand (.loc),
hand-made QEMU block logs, a fake QEMU that writes its log into the FIFO, and the reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from moat import coverage_map, coverage_report, coverage_trace, qemu
from moat import coverage_thresholds as thresholds
from tests.tools import fakeqemu

BASE = 0xFFFFFFFF80101000
# f: line 1 cmp; line 2 je (+0x3, 2 bytes, to +0xb); line 3 mov+ret (+0x5, +0xa); line 5 mov (+0xb);
# line 6 ret (+0x10). g: line 8 ret (+0x11). h: line 9 jmp to line 5 (+0x12): another way in to the
# je's target. All in hv/t.c.
TINY = """    .file 1 "hv/t.c"
    .text
    .globl f
    .type f, @function
f:
    .loc 1 1
    cmp $1, %edi
    .loc 1 2
    je taken
    .loc 1 3
    mov $5, %eax
    ret
taken:
    .loc 1 5
    mov $7, %eax
    .loc 1 6
    ret
    .size f, . - f
    .globl g
    .type g, @function
g:
    .loc 1 8
    ret
    .size g, . - g
    .globl h
    .type h, @function
h:
    .loc 1 9
    jmp taken
    .size h, . - h
"""
F, JE, TAKEN, FALL, G, H = BASE, BASE + 3, BASE + 0xB, BASE + 5, BASE + 0x11, BASE + 0x12


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/tiny: t.elf (and a t.bin beside it, as the kernel QEMU would get) under a root with hv/t.c."""
    if shutil.which("gcc") is None or shutil.which("ld") is None:
        pytest.skip("gcc and ld are needed to assemble the tiny ELF")
    root = tmp_path_factory.mktemp("tiny")
    (root / "hv").mkdir()
    (root / "hv" / "t.c").write_text("".join(f"line {n}\n" for n in range(1, 10)))
    (root / "t.S").write_text(TINY)
    subprocess.run(["gcc", "-c", "-g", "t.S", "-o", "t.o"], cwd=root, check=True)
    subprocess.run(["ld", "-nostdlib", "-static", "-e", "f", f"-Ttext={BASE:#x}", "t.o", "-o", "t.elf"], cwd=root,
                   check=True)
    (root / "t.bin").write_bytes(b"kernel")
    return root


def trace(cpu: int, host: int, pc: int) -> bytes:
    return f"Trace {cpu}: {host:#x} [00000000/{pc:016x}/000000b0/ff000200] \n".encode()


def link(src: int, index: int, dst: int) -> bytes:
    return f"Linking TBs {src:#x} index {index} -> {dst:#x}\n".encode()


def test_the_tiny_elf_has_the_line_table_we_wrote(tiny):
    code = coverage_map.ElfCode(tiny / "t.elf", tiny)
    assert sorted(code.coverable()) == [("hv/t.c", n) for n in (1, 2, 3, 5, 6, 8, 9)]
    assert list(code.branches) == [("hv/t.c", 2, 0)]
    je = code.branches[("hv/t.c", 2, 0)]
    assert (je.addr, je.target, je.mnemonic) == (JE, TAKEN, "je")
    assert [(fn.name, fn.file, fn.lo - BASE, fn.hi - BASE) for fn in code.functions] == [
        ("f", "hv/t.c", 0, 0x11), ("g", "hv/t.c", 0x11, 0x12), ("h", "hv/t.c", 0x12, 0x14)]
    assert [i.addr - BASE for i in code.block(F)] == [0, 3]          # ends at the conditional jump
    assert [i.addr - BASE for i in code.block(FALL)] == [5, 0xA]      # ends at the ret
    assert [i.addr - BASE for i in code.block(F, BASE + 0xA)] == [0, 3, 5, 0xA]  # as QEMU listed it
    assert code.ways_in()[TAKEN] == [JE, H] and code.ways_in()[FALL] == [JE] and code.ways_in()[G] == [-1]


def test_chained_log_reduces_to_blocks_and_linked_edges():
    log = [trace(0, 0x7F00, F), b"Linking TBs 0x9999 index 0 -> 0x7f00\n",  # from a block outside: ignored
           link(0x7F00, 1, 0x7F80), trace(0, 0x7F80, TAKEN),
           trace(0, 0x7F00, F), trace(0, 0x7F80, TAKEN), b"garbage\n"]
    red = coverage_trace.reduce(iter(log), "chain")
    assert red.blocks == {F, TAKEN}
    assert red.edges == {(F, TAKEN)}
    assert red.lines == 7


def test_a_link_resolves_to_the_block_that_runs_next_not_a_stale_one():
    # Host address 0x7f80 held another block before; the link's target is whatever runs next there.
    log = [trace(0, 0x7F80, FALL), trace(0, 0x7F00, F), link(0x7F00, 0, 0x7F80), trace(0, 0x7F80, TAKEN)]
    assert coverage_trace.reduce(iter(log), "chain").edges == {(F, TAKEN)}


def test_nochain_log_gives_consecutive_blocks_per_cpu():
    log = [trace(0, 1, F), trace(1, 2, 0x1234), trace(0, 3, FALL), trace(0, 1, F), trace(0, 4, TAKEN)]
    red = coverage_trace.reduce(iter(log), "nochain")
    assert red.blocks == {F, FALL, TAKEN, 0x1234}
    assert red.edges == {(F, FALL), (FALL, F), (F, TAKEN)}


def record(raw: Path, name: str, elf: Path, blocks: list[int], edges: list[tuple[int, int]], test: str,
           mode: str = "chain") -> None:
    red = coverage_trace.Reduced(set(blocks), set(edges))
    raw.mkdir(parents=True, exist_ok=True)
    coverage_trace.write_record(raw / f"{name}.json", red, elf=elf, mode_=mode, test=test, seconds=1.5)


def test_exact_figures_from_hand_made_records(tiny, tmp_path):
    raw = tmp_path / "raw"
    record(raw, "a", tiny / "t.elf", [F, TAKEN], [(F, TAKEN)], "tests/a.py::test_taken")
    hv = coverage_report.analyse(raw, tiny)
    data = coverage_report.summary(hv, {"lines_percent": 50.0, "lines_hit": 1, "lines_total": 2})
    assert data["hv"] == {"lines_percent": 57.14, "branches_percent": 50.0, "lines_hit": 4, "lines_total": 7,
                          "branches_hit": 1, "branches_total": 2, "boots": 1, "mode": "chain",
                          "branches_undecided": 0}
    t = data["files"]["hv/t.c"]
    assert t["missed_lines"] == [3, 8, 9]
    assert t["functions"] == {"f": {"lines_hit": 4, "lines_total": 5, "lines_percent": 80.0},
                              "g": {"lines_hit": 0, "lines_total": 1, "lines_percent": 0.0},
                              "h": {"lines_hit": 0, "lines_total": 1, "lines_percent": 0.0}}
    assert hv.tests == {"tests/a.py::test_taken": {"seconds": 1.5, "lines": {"hv/t.c": [1, 2, 5, 6]}}}
    # A second test takes the other way: every line of f and both outcomes.
    record(raw, "b", tiny / "t.elf", [F, FALL], [(F, FALL)], "tests/a.py::test_fall")
    data = coverage_report.summary(coverage_report.analyse(raw, tiny), None)
    assert (data["hv"]["lines_hit"], data["hv"]["branches_hit"]) == (5, 2)   # all but g and h
    assert data["tools"] == {"lines_percent": None}


def test_an_edge_that_is_not_the_jumps_successor_reaches_nothing(tiny, tmp_path):
    raw = tmp_path / "raw"
    record(raw, "a", tiny / "t.elf", [F, G], [(F, G)], "t")  # f's block, then g
    data = coverage_report.summary(coverage_report.analyse(raw, tiny), None)
    assert data["hv"]["branches_hit"] == 0
    assert data["files"]["hv/t.c"]["missed_lines"] == [3, 5, 6, 9]


def asm_listing(*blocks: list[int]) -> list[bytes]:
    out = []
    for insns in blocks:
        out += [b"----------------\n", b"IN: f\n"] + [f"{a:#x}:  90   nop\n".encode() for a in insns] + [b"\n"]
    return out


def test_asm_log_reduces_to_blocks_and_their_last_instructions():
    red = coverage_trace.reduce(iter(asm_listing([F, JE], [TAKEN, TAKEN + 5], [F, JE])), "asm")
    assert red.blocks == {F, TAKEN} and red.ends == {F: JE, TAKEN: TAKEN + 5} and red.edges == set()


def test_asm_mode_infers_an_outcome_when_its_successor_has_no_other_way_in(tiny, tmp_path):
    raw = tmp_path / "raw"
    red = coverage_trace.reduce(iter(asm_listing([F, JE], [TAKEN, TAKEN + 5])), "asm")
    coverage_trace.write_record(raw / "a.json", red, elf=tiny / "t.elf", mode_="asm", test="t", seconds=1.0)
    data = coverage_report.summary(coverage_report.analyse(raw, tiny), None)
    assert (data["hv"]["branches_hit"], data["hv"]["branches_undecided"], data["hv"]["lines_hit"]) == (1, 0, 4)
    # h ran too and jumps to the same place: the taken outcome is undecided, not counted.
    raw2 = tmp_path / "raw2"
    red = coverage_trace.reduce(iter(asm_listing([F, JE], [TAKEN, TAKEN + 5], [H])), "asm")
    coverage_trace.write_record(raw2 / "a.json", red, elf=tiny / "t.elf", mode_="asm", test="t", seconds=1.0)
    data = coverage_report.summary(coverage_report.analyse(raw2, tiny), None)
    assert (data["hv"]["branches_hit"], data["hv"]["branches_undecided"], data["hv"]["lines_hit"]) == (0, 1, 5)


def test_records_of_a_rebuilt_elf_are_ignored(tiny, tmp_path):
    raw = tmp_path / "raw"
    record(raw, "a", tiny / "t.elf", [F], [], "t")
    rec = json.loads((raw / "a.json").read_text())
    rec["elf_sha256"] = "0" * 64
    (raw / "a.json").write_text(json.dumps(rec))
    hv = coverage_report.analyse(raw, tiny)
    assert (hv.boots, hv.stale) == (0, 1)


def test_reports_terminal_html_and_json(tiny, tmp_path):
    raw = tmp_path / "raw"
    record(raw, "a", tiny / "t.elf", [F, TAKEN], [(F, TAKEN)], "t")
    hv = coverage_report.analyse(raw, tiny)
    data = coverage_report.summary(hv, None)
    text = coverage_report.terminal(data)
    assert "hv/t.c" in text and "4/7" in text and "57.1" in text and "1/2" in text
    index = coverage_report.write_html(data, hv, tiny, tmp_path / "html", None)
    page = (tmp_path / "html" / "hv" / "hv_t.c.html").read_text()
    assert 'href="hv/hv_t.c.html"' in index.read_text()
    assert '<tr class="part"><td class="n">2</td><td class="n">1/2</td>' in page   # ran, one way only
    assert '<tr class="miss"><td class="n">3</td>' in page
    assert '<tr class=""><td class="n">4</td>' in page                            # no code on line 4
    out = tmp_path / "c.json"
    coverage_report.write_json(out, data)
    assert set(json.loads(out.read_text())) == {"hv", "tools", "files"}


def test_a_boot_through_a_fake_qemu_writes_its_log_into_the_fifo(tiny, tmp_path, monkeypatch):
    """qemu.boot with MOAT_COVERAGE: the -dfilter covers the ELF's code, the reducer reads the FIFO."""
    log = b"".join(asm_listing([F, JE], [TAKEN, TAKEN + 5])).decode()
    body = ('while [ $# -gt 0 ]; do case "$1" in -D) out="$2";; -dfilter) echo "$2" > "' + str(tmp_path / "filter")
            + '";; esac; shift; done\n'
            + f"printf '%s' '{log}' > \"$out\"\nprintf 'Test result: SUCCESS\\r\\nmoat: stop: success\\r\\n'\nexit 1\n")
    fakeqemu.install(monkeypatch, tmp_path / "bin", body)
    monkeypatch.setenv(coverage_trace.ENV_DIR, str(tmp_path / "cov"))
    monkeypatch.setenv(coverage_trace.ENV_TEST, "tests/x.py::test_fake")
    monkeypatch.setenv(coverage_trace.ENV_MODE, "asm")
    result = qemu.boot(tiny / "t.bin", "", [], timeout=30, default_policy=False, cwd=tiny)
    assert result.status is qemu.Status.SUCCESS
    assert (tmp_path / "filter").read_text().strip() == f"{BASE:#x}..{BASE + 0x13:#x}"
    assert "-d in_asm" in " ".join(result.command)
    [rec_path] = list((tmp_path / "cov" / "raw").glob("*.json"))
    rec = json.loads(rec_path.read_text())
    assert rec["test"] == "tests/x.py::test_fake" and rec["mode"] == "asm"
    assert rec["blocks"] == [F, TAKEN] and rec["ends"] == [[F, JE], [TAKEN, TAKEN + 5]]


def test_a_qemu_that_never_opens_its_log_does_not_hang_the_boot(tiny, tmp_path, monkeypatch):
    fakeqemu.install(monkeypatch, tmp_path / "bin", "exit 1\n")
    monkeypatch.setenv(coverage_trace.ENV_DIR, str(tmp_path / "cov"))
    monkeypatch.delenv(coverage_trace.ENV_MODE, raising=False)  # the default: chain (-d exec)
    result = qemu.boot(tiny / "t.bin", "", [], timeout=30, default_policy=False, cwd=tiny)
    assert result.exit_code == 1
    assert "-d exec " in " ".join(result.command)
    [rec_path] = list((tmp_path / "cov" / "raw").glob("*.json"))
    assert json.loads(rec_path.read_text())["blocks"] == []


def test_without_moat_coverage_a_boot_gets_no_log_arguments(tiny, tmp_path, monkeypatch):
    monkeypatch.delenv(coverage_trace.ENV_DIR, raising=False)
    fakeqemu.install(monkeypatch, tmp_path / "bin", fakeqemu.printing([], 1, tmp_path / "args"))
    qemu.boot(tiny / "t.bin", "", [], timeout=30, default_policy=False, cwd=tiny)
    args = (tmp_path / "args").read_text().split()
    assert "-D" not in args and "-dfilter" not in args


def test_thresholds_compare_and_only_rise(tmp_path):
    (tmp_path / "tests" / "quality").mkdir(parents=True)
    thresholds.save(tmp_path, {"coverage.hv_lines_percent": 50.0, "mutation.kill_rate_percent": 80.0})
    floors = thresholds.load(tmp_path)
    measured = thresholds.from_coverage({"hv": {"lines_percent": 49.99, "branches_percent": 30.0},
                                         "tools": {"lines_percent": 70.0}})
    assert thresholds.compare(floors, measured) == [
        "coverage.hv_lines_percent = 49.99 is below its threshold 50.00"]
    thresholds.raise_to(tmp_path, measured)
    after = thresholds.load(tmp_path)
    assert after["coverage.hv_lines_percent"] == 50.0          # never lowered
    assert after["coverage.hv_branches_percent"] == 30.0
    assert after["coverage.tools_lines_percent"] == 70.0
    assert after["mutation.kill_rate_percent"] == 80.0
    thresholds.raise_to(tmp_path, thresholds.from_mutation({"kill_rate_percent": 91.26}))
    assert thresholds.load(tmp_path)["mutation.kill_rate_percent"] == 91.2


def test_the_self_tests_own_code_is_not_counted() -> None:
    """hv/ files compiled only into the test build are test code: their lines and branches are
    not hv/ figures (the code they drive, hv/lib/tpm2.c say, is), and each listed file is one."""
    root = Path(__file__).resolve().parents[2]
    for name in coverage_map.SELFTEST_FILES:
        text = (root / name).read_text(encoding="utf-8")
        assert "#ifdef CONFIG_SELFTEST" in text, name
    elf = root / "build" / "hv" / "moat-selftest.elf"
    if not elf.is_file():
        pytest.skip("no build/hv/moat-selftest.elf (run ./moat build)")
    code = coverage_map.ElfCode(elf, root)
    files = {f for f, _ in code.coverable()}
    assert not files & coverage_map.SELFTEST_FILES
    assert {"hv/lib/tpm2.c", "hv/lib/tpm_tis.c", "hv/lib/sha256.c"} <= files
