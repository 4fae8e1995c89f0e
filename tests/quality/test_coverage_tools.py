# SPDX-License-Identifier: MIT
"""moat coverage's parts on known input: a tiny ELF whose line table is written by hand (.loc),
hand-made QEMU block logs, a fake QEMU that writes its log into the FIFO, the reports; and the
QEMU plugin (tools/qemu-plugin/): its jump decoder on hand-made bytes, its record format, and
real boots under it, checked against QEMU's exact block log."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import capstone
import pytest

from moat import cli, coverage_map, coverage_report, coverage_trace, paths, qemu
from moat import coverage_thresholds as thresholds
from moat.errors import USER_ERROR_EXIT, UserError
from moat.pytest_plugin import require_qemu, skip_or_fail
from tests.tools import fakeqemu

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_BUILD = ROOT / "build" / "qemu-plugin"

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


def test_the_line_rows_are_pyelftools_rows(tiny):
    """coverage_map.line_rows, the line-program decoder the map uses, gives the rows pyelftools'
    own decoder gives, on the tiny ELF and on a guest that gcc built as it builds hv/ (-O2 line
    programs: special opcodes, views, columns, discriminators, statements negated)."""
    import io

    from elftools.elf.elffile import ELFFile

    elfs = [tiny / "t.elf"]
    guest = paths.build_dir() / "images" / "fault.elf"
    if guest.is_file():
        elfs.append(guest)
    for path in elfs:
        ef = ELFFile(io.BytesIO(path.read_bytes()))
        dwarf = ef.get_dwarf_info()
        stream = dwarf.debug_line_sec.stream
        stream.seek(0)
        section = stream.read()
        programs = [lp for cu in dwarf.iter_CUs() if (lp := dwarf.line_program_for_CU(cu)) is not None]
        assert programs, path
        for lp in programs:
            want = [(e.state.address, e.state.file, e.state.line, e.state.end_sequence)
                    for e in lp.get_entries() if e.state is not None]
            got = coverage_map.line_rows(lp.header, section, lp.program_start_offset, lp.program_end_offset)
            assert got == want and want, (path, lp.program_start_offset)


def test_a_kept_map_is_handed_out_as_it_was_made(tiny):
    """coverage_report.elf_code makes an ELF's map once per content and hands out copies: what one
    copy's queries add (an instruction decoded at a start the sweep did not align with, which
    coverable() would then count) is not in the next."""
    codes: coverage_report.ElfCodes = {}
    first = coverage_report.elf_code(tiny / "t.elf", tiny, codes)
    assert [i.addr for i in first.block(F + 1)][:1] == [F + 1]   # inside f's cmp: decoded and kept
    again = coverage_report.elf_code(tiny / "t.elf", tiny, codes)
    assert len(codes) == 1 and again is not first
    assert F + 1 in first.insns and F + 1 not in again.insns
    assert again.coverable() == coverage_map.ElfCode(tiny / "t.elf", tiny).coverable()


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


def test_nochain_a_block_left_at_its_start_does_not_follow_itself():
    """QEMU logs a block, leaves it before its first instruction to see to an event, and logs it
    again when it runs it: F -> TAKEN -> TAKEN would be a loop outcome that never happened."""
    def stopped(pc: int) -> bytes:
        return f"Stopped execution of TB chain before 0x4 [{pc:016x}] \n".encode()

    log = [trace(0, 1, F), trace(0, 4, TAKEN), stopped(TAKEN), trace(0, 4, TAKEN), trace(0, 3, FALL),
           trace(0, 1, F), stopped(F), trace(0, 1, F)]
    red = coverage_trace.reduce(iter(log), "nochain")
    assert red.edges == {(F, TAKEN), (TAKEN, FALL), (FALL, F)}
    # the first block of a CPU, left at its start: nothing came before it
    assert coverage_trace.reduce(iter([trace(0, 1, F), stopped(F), trace(0, 1, F)]), "nochain").edges == set()
    # several CPUs: the line names the block, and so the CPU (here not the one logged last)
    log = [trace(0, 1, F), trace(0, 4, TAKEN), trace(1, 5, G), stopped(TAKEN), trace(1, 6, H), trace(0, 4, TAKEN)]
    assert coverage_trace.reduce(iter(log), "nochain").edges == {(F, TAKEN), (G, H)}


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
                          "branches_undecided": 0, "boots_unrecorded": 0}
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
    monkeypatch.setenv(coverage_trace.ENV_MODE, "chain")
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


# ---- the QEMU plugin backend (mode "plugin") ----

def built(path: Path) -> Path:
    if not path.is_file():
        skip_or_fail(f"{path.relative_to(ROOT)} is missing: run ./moat build")
    return path


# (address, bytes, 32-bit mode) -> (taken, fall-through), None when not a conditional jump.
JUMPS: list[tuple[int, str, bool, tuple[int, int] | None]] = [
    (0x1000, "7405", False, (0x1007, 0x1002)),                      # je rel8 forward
    (0x1000, "75fe", False, (0x1000, 0x1002)),                      # jne to itself
    (0x1000, "7f80", False, (0x1002 - 0x80, 0x1002)),               # jg rel8, most negative
    (BASE, "0f8410000000", False, (BASE + 0x16, BASE + 6)),         # je rel32
    (BASE, "0f8ff0ffffff", False, (BASE + 6 - 0x10, BASE + 6)),     # jg rel32 backwards
    (0x2000, "e310", False, (0x2012, 0x2002)),                      # jrcxz
    (0x2000, "67e305", False, (0x2008, 0x2003)),                    # jecxz (0x67: the counter, not the target)
    (0x2000, "e2fe", False, (0x2000, 0x2002)),                      # loop to itself
    (0x2000, "e0fe", False, (0x2000, 0x2002)),                      # loopne
    (0x3000, "3e7402", False, (0x3005, 0x3003)),                    # a branch hint prefix
    (0xFFFFFFF0, "0f8420000000", True, (0x16, 0xFFFFFFF6)),          # 32-bit code wraps at 4 GiB
    (0x1000, "eb05", False, None),                                  # jmp: one way only
    (0x1000, "e800000000", False, None),                            # call
    (0x1000, "c3", False, None),                                    # ret
    (0x1000, "0f05", False, None),                                  # syscall
    (0x1000, "0f84000000", False, None),                            # je rel32 cut short
    (0x1000, "740500", False, None),                                # a byte too many for jcc rel8
    (0x1000, "660f840000", False, None),                            # 0x66: a 16-bit target, not followed
]


def test_the_plugins_jump_decoder_on_hand_made_bytes():
    """tools/qemu-plugin/jump_decode.c (what the plugin runs on every block's last instruction):
    exact successors, and capstone agrees wherever it sees a conditional jump."""
    check = built(PLUGIN_BUILD / "jump_decode_check")
    args = [f"{addr:x}:{int(wrap)}:{code}" for addr, code, wrap, _ in JUMPS]
    out = subprocess.run([str(check), *args, "zz", "1000:0:7"], capture_output=True, text=True, check=False)
    assert out.returncode == 2  # the two unreadable arguments
    got = out.stdout.split("\n")
    md = {False: capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64),
          True: capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)}
    for (addr, code, wrap, want), line in zip(JUMPS, got, strict=False):
        assert line == ("none" if want is None else f"{want[0]:x} {want[1]:x}"), code
        insns = list(md[wrap].disasm(bytes.fromhex(code), addr, 1))
        if want is not None and insns and insns[0].size == len(code) // 2:
            insn = insns[0]
            assert coverage_map.is_conditional(insn.mnemonic) and int(insn.op_str, 16) == want[0], code
    assert got[len(JUMPS):] == ["bad", "bad", ""]


def plugin_text(*blocks: tuple[int, int, int, int, int, int]) -> str:
    """The plugin's file: (start, last, cond, taken, fall, took|fell<<1) per block."""
    out = "moat-cov 1 blocks 9 translations 12\n"
    for start, last, cond, taken, fall, seen in blocks:
        out += f"b {start:x} {last:x} 2 {last - start + 2} 7 {cond} {taken:x} {fall:x} {seen & 1} {seen >> 1}\n"
    return out


def test_the_plugins_record_reads_as_blocks_ends_and_outcomes():
    red = coverage_trace.read_plugin_output(plugin_text((F, JE, 1, TAKEN, FALL, 1), (TAKEN, TAKEN + 5, 0, 0, 0, 0),
                                                        (F, F, 0, 0, 0, 0)))
    assert red.blocks == {F, TAKEN}
    assert red.ends == {F: JE, TAKEN: TAKEN + 5}   # the longest of the block's translations
    assert red.edges == {(F, TAKEN)}               # taken seen, fall-through not
    both = coverage_trace.read_plugin_output(plugin_text((F, JE, 1, TAKEN, FALL, 3)))
    assert both.edges == {(F, TAKEN), (F, FALL)}
    for bad in ("", "moat-cov 2 blocks 0\n", plugin_text() + "b 1 2 3\n", plugin_text() + "x " + "0 " * 10 + "\n"):
        with pytest.raises(ValueError):
            coverage_trace.read_plugin_output(bad)


def test_exact_figures_from_a_plugin_record(tiny, tmp_path):
    raw = tmp_path / "raw"
    red = coverage_trace.read_plugin_output(plugin_text((F, JE, 1, TAKEN, FALL, 2), (FALL, BASE + 0xA, 0, 0, 0, 0)))
    coverage_trace.write_record(raw / "a.json", red, elf=tiny / "t.elf", mode_="plugin", test="t", seconds=1.0)
    data = coverage_report.summary(coverage_report.analyse(raw, tiny), None)
    assert (data["hv"]["lines_hit"], data["hv"]["branches_hit"], data["hv"]["mode"]) == (3, 1, "plugin")
    assert data["files"]["hv/t.c"]["missed_lines"] == [5, 6, 8, 9]


def test_a_boot_through_a_fake_qemu_gets_the_plugin_and_its_ranges(tiny, tmp_path, monkeypatch):
    """The -plugin option names the .so, the output file and the ELF's code; the file QEMU's plugin
    writes becomes the boot's record."""
    so = tmp_path / "libfake.so"
    so.write_bytes(b"")
    text = plugin_text((F, JE, 1, TAKEN, FALL, 1), (TAKEN, TAKEN + 5, 0, 0, 0, 0))
    body = ('while [ $# -gt 0 ]; do case "$1" in -plugin) spec="$2";; esac; shift; done\n'
            f'echo "$spec" > "{tmp_path / "spec"}"\n'
            'out=$(echo "$spec" | tr , "\\n" | sed -n "s/^out=//p")\n'
            f"printf '%s' '{text}' > \"$out\"\n"
            "printf 'Test result: SUCCESS\\r\\nmoat: stop: success\\r\\n'\nexit 1\n")
    fakeqemu.install(monkeypatch, tmp_path / "bin", body)
    monkeypatch.setenv(coverage_trace.ENV_DIR, str(tmp_path / "cov"))
    monkeypatch.setenv(coverage_trace.ENV_TEST, "tests/x.py::test_fake")
    monkeypatch.setenv(coverage_trace.ENV_PLUGIN, str(so))
    monkeypatch.delenv(coverage_trace.ENV_MODE, raising=False)  # the plugin is there: the default
    result = qemu.boot(tiny / "t.bin", "", [], timeout=30, default_policy=False, cwd=tiny)
    assert result.status is qemu.Status.SUCCESS
    spec = (tmp_path / "spec").read_text().strip().split(",")
    assert spec[0] == str(so) and spec[1].startswith("out=") and spec[2:] == [f"range={BASE:x}-{BASE + 0x14:x}"]
    assert "-d" not in result.command
    [rec_path] = list((tmp_path / "cov" / "raw").glob("*.json"))
    rec = json.loads(rec_path.read_text())
    assert (rec["mode"], rec["test"], rec["complete"]) == ("plugin", "tests/x.py::test_fake", True)
    assert rec["blocks"] == [F, TAKEN] and rec["edges"] == [[F, TAKEN]] and rec["ends"] == [[F, JE], [TAKEN, TAKEN + 5]]


def test_a_missing_plugin_is_reported_not_skipped(tiny, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "libmoat-cov.so"
    monkeypatch.setenv(coverage_trace.ENV_PLUGIN, str(missing))
    monkeypatch.setenv(coverage_trace.ENV_DIR, str(tmp_path / "cov"))
    monkeypatch.delenv(coverage_trace.ENV_MODE, raising=False)
    assert coverage_trace.default_mode() == "chain"   # not built: QEMU's log, and moat coverage says so
    monkeypatch.setenv(coverage_trace.ENV_MODE, "plugin")
    fakeqemu.install(monkeypatch, tmp_path / "bin", fakeqemu.printing([], 1, tmp_path / "args"))
    with pytest.raises(UserError, match=f"QEMU plugin {missing} is missing: build it"):
        qemu.boot(tiny / "t.bin", "", [], timeout=30, default_policy=False, cwd=tiny)
    assert not (tmp_path / "args").exists()   # QEMU never started


def test_moat_coverage_refuses_a_missing_plugin_before_running_anything(tmp_path, monkeypatch, capsys):
    def no_build(*_: object, **__: object) -> int:
        raise AssertionError("built or ran before refusing")
    monkeypatch.setattr("moat.commands.coverage.run_scons", no_build)
    monkeypatch.setenv(coverage_trace.ENV_PLUGIN, str(tmp_path / "none.so"))
    for mode in (["--mode", "plugin"], []):  # asked for, or the default
        assert cli.main(["coverage", *mode, "tests/quality/test_thresholds.py"]) == USER_ERROR_EXIT
        err = capsys.readouterr().err
        assert f"the QEMU plugin {tmp_path / 'none.so'} is missing" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def codes() -> coverage_report.ElfCodes:
    """The ELF maps this file's tests make, each once (coverage_report.elf_code: 0.25 s of CPU each
    for build/hv/moat.elf, which three tests here read, one of them three times)."""
    return {}


def real_boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, timeout: float = 120,
              **kw: object) -> dict:  # type: ignore[type-arg]
    """Boot build/hv/moat.bin (the default policy, no domains) once under moat coverage's mode."""
    require_qemu()
    kernel = built(paths.hv_image("moat"))
    if mode == "plugin":
        built(PLUGIN_BUILD / "libmoat-cov.so")
    out = tmp_path / mode
    monkeypatch.setenv(coverage_trace.ENV_DIR, str(out))
    monkeypatch.setenv(coverage_trace.ENV_MODE, mode)
    monkeypatch.setenv(coverage_trace.ENV_TEST, f"plugin-check-{mode}")
    monkeypatch.delenv(coverage_trace.ENV_PLUGIN, raising=False)
    result = qemu.boot(kernel, "", [], timeout=timeout, cwd=ROOT, **kw)  # type: ignore[arg-type]
    [rec_path] = list((out / "raw").glob("*.json"))
    rec: dict = json.loads(rec_path.read_text())  # type: ignore[type-arg]
    rec["_result"] = result
    rec["_raw"] = out / "raw"
    return rec


def test_a_real_boot_under_the_plugin_records_strlens_loop_both_ways(tmp_path, monkeypatch, codes):
    """The hypervisor prints its banner with strlen: the record has strlen's loop, both outcomes of
    its conditional jump, and every edge it holds is an outcome of the jump that ends its block."""
    rec = real_boot(tmp_path, monkeypatch, "plugin", icount=True)
    assert rec["_result"].status is qemu.Status.SUCCESS and rec["complete"]
    code = coverage_report.elf_code(paths.hv_image("moat", elf=True), ROOT, codes)
    [fn] = [f for f in code.functions if f.name == "strlen"]
    jumps = [i for a, i in sorted(code.insns.items()) if fn.lo <= a < fn.hi and i.conditional]
    [loop] = [j for j in jumps if j.target is not None and j.target <= j.addr]   # the back edge
    ends = dict(rec["ends"])
    [loop_block] = [b for b in rec["blocks"] if ends.get(b) == loop.addr and b == loop.target]
    edges = {tuple(e) for e in rec["edges"]}
    assert (loop_block, loop.target) in edges and (loop_block, loop.addr + loop.size) in edges
    for src, dst in edges:
        j = code.insns[ends[src]]
        assert j.conditional and dst in (j.target, j.addr + j.size), (hex(src), hex(dst))
    assert set(ends) == set(rec["blocks"]) and all(s <= e for s, e in ends.items())


def test_the_plugin_agrees_with_qemus_exact_log_and_leaves_instruction_counts_alone(tmp_path, monkeypatch, codes):
    """Under -icount the same boot runs the same instructions: the plugin (no log) and
    `-d exec,nochain` (every block execution logged) give the same branch outcomes, the console
    (with its tsc figures) is the same with and without the plugin, and the only lines apart are
    the ones after the write to QEMU's exit port, which the log counts as run (a block counts
    whole) and the plugin does not (QEMU never translated the rest)."""
    plugin = real_boot(tmp_path, monkeypatch, "plugin", icount=True)
    nochain = real_boot(tmp_path, monkeypatch, "nochain", icount=True)
    monkeypatch.delenv(coverage_trace.ENV_DIR)
    plain = qemu.boot(built(paths.hv_image("moat")), "", [], timeout=120, cwd=ROOT, icount=True)
    assert any("tsc" in line for line in plain.console.splitlines())
    assert plugin["_result"].console == plain.console == nochain["_result"].console
    a = coverage_report.analyse(plugin["_raw"], ROOT, codes)
    b = coverage_report.analyse(nochain["_raw"], ROOT, codes)
    assert a.branches == b.branches and sum(x + y for x, y in a.branches.values()) > 500
    assert a.executed <= b.executed and len(a.executed) > 1000
    code = coverage_report.elf_code(paths.hv_image("moat", elf=True), ROOT, codes)
    after_out: set[tuple[str, int]] = set()   # lines of the log's blocks that follow an `out`
    for start in nochain["blocks"]:
        seen_out = False
        for i in code.block(start):
            line = code.line_of(i.addr)
            if seen_out and line is not None:
                after_out.add(line)
            seen_out |= i.mnemonic == "out"
    assert b.executed - a.executed <= after_out, sorted(b.executed - a.executed)
    assert len(b.executed - a.executed) <= 3


def test_a_boot_stopped_from_outside_still_writes_its_plugin_record(tmp_path, monkeypatch):
    """QEMU started halted (-S) never exits by itself: the timeout stops it with SIGTERM first, so
    the plugin writes its (empty) record; SIGKILL would leave none ("complete": false)."""
    # The timeout must come after QEMU loaded the plugin. A monitor on a file writes its banner
    # once QEMU is up, which is after the plugins are loaded: a boot stopped before that proves
    # nothing and is tried again with twice the time (1 s is enough on an idle machine; a fixed
    # 8 s, as before, was a worker's idle wall time in every run).
    for timeout in (1, 2, 4, 8, 16):
        banner = tmp_path / f"monitor-{timeout}s.txt"
        rec = real_boot(tmp_path / f"{timeout}s", monkeypatch, "plugin", timeout=timeout, default_policy=False,
                        extra_args=["-S", "-chardev", f"file,id=up,path={banner}", "-mon", "chardev=up,mode=readline"])
        if banner.is_file() and "monitor" in banner.read_text():
            break
    else:
        pytest.fail("QEMU's monitor never started within 16 s")
    assert rec["_result"].status is qemu.Status.TIMEOUT
    assert "terminating on signal 15" in rec["_result"].stderr
    assert rec["complete"] is True and rec["blocks"] == []


def test_a_boot_killed_outright_is_counted_as_unrecorded(tiny, tmp_path, monkeypatch):
    """A QEMU that dies without the plugin writing (SIGKILL, a crash) leaves an empty record
    marked incomplete, and the report says how many boots that was."""
    so = tmp_path / "libfake.so"
    so.write_bytes(b"")
    fakeqemu.install(monkeypatch, tmp_path / "bin", "kill -9 $$\n")
    monkeypatch.setenv(coverage_trace.ENV_DIR, str(tmp_path / "cov"))
    monkeypatch.setenv(coverage_trace.ENV_PLUGIN, str(so))
    monkeypatch.setenv(coverage_trace.ENV_MODE, "plugin")
    qemu.boot(tiny / "t.bin", "", [], timeout=30, default_policy=False, cwd=tiny)
    [rec_path] = list((tmp_path / "cov" / "raw").glob("*.json"))
    assert json.loads(rec_path.read_text())["complete"] is False
    data = coverage_report.summary(coverage_report.analyse(tmp_path / "cov" / "raw", tiny), None)
    assert (data["hv"]["boots"], data["hv"]["boots_unrecorded"], data["hv"]["lines_hit"]) == (1, 1, 0)
    assert "1 of them left no record" in coverage_report.terminal(data)
