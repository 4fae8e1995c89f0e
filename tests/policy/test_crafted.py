# SPDX-License-Identifier: MIT
"""Blobs built byte by byte at each bound of the hypervisor's parser (hv/xsm/acm_policy.c), where
the compiled policies and their one-byte changes never go: a value at a limit and one past it, a
length one short of and exactly at a header, a section that ends exactly where the extension
does, a caller's mistakes. Both decoders must give the same answer; where two refusals share an
offset and a field, the C parser's message is compared too. acm_check runs under the address and
undefined-behaviour sanitizers (tests/host/SConscript): a read one byte past the blob stops it."""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moat.policy import compile_policy, read_policy
from moat.policy.binary import decode
from tests.policy.conftest import ROOT, py_decode

SCENARIOS = ROOT / "tests" / "scenarios" / "policies"
MAGIC, EXT_MAGIC = 0x0001DEBC, 0x4D4F4154
PERMISSIONS, DEVICES, QUOTAS, SCHED, TARGETS = 1, 2, 3, 4, 16
MAX_POLICY_SIZE = 64 * 1024 * 1024
UNLIMITED = 0xFFFFFFFF


def pad8(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 8)


def cells16(rows: list[list[int]]) -> bytes:
    return b"".join(struct.pack("!H", v) for row in rows for v in row)


def blob(tc: int, chwall: list[list[int]], sets: list[list[int]], ts: int, ste: list[list[int]], *,
         ext: bytes = b"", name: bytes = b"crafted") -> bytes:
    """A blob of these matrices (rows of u16 cells), with the codes and offsets Xen 4.1's compiler
    writes for them, and the extension `ext` (already encoded) after the STE section."""
    ref = pad8(struct.pack("!I", len(name) + 1) + name + b"\0")
    c = 60 + len(ref)
    rc, k, rs = len(chwall), len(sets), len(ste)
    cw = pad8(struct.pack("!9I", 1, 1, tc, rc, k, 36, 36 + 2 * tc * rc, 0, 0) + cells16(chwall) + cells16(sets))
    st = pad8(struct.pack("!5I", 1, 2, ts, rs, 20) + cells16(ste))
    s = c + len(cw)
    primary, secondary, secondary_off = (1, 2, s) if tc else (2, 15, c + len(st)) if ts else (15, 15, c)
    body = ref + cw + st + ext
    header = struct.pack("!8I2i", MAGIC, 4, 60 + len(body), 60, primary, c, secondary, secondary_off, 1, 0)
    return header + bytes(20) + body


def section(kind: int, rows: int, second: int, cells: list[int], length: int | None = None) -> bytes:
    """An extension section: type, length (by default what its cells need), rows, the reserved
    or words or fields word, then the cells (u32), padded to 8 bytes."""
    body = struct.pack(f"!{len(cells)}I", *cells)
    return pad8(struct.pack("!4I", kind, length if length is not None else (16 + len(body) + 7) & ~7, rows,
                            second) + body)


def extension(*sections: bytes, count: int | None = None) -> bytes:
    return struct.pack("!4I", EXT_MAGIC, 2, 16 + sum(len(s) for s in sections),
                       len(sections) if count is None else count) + b"".join(sections)


def rows3(ext: bytes = b"") -> bytes:
    """A loadable policy of three label rows (one Chinese Wall and one STE type each but row 0)."""
    return blob(1, [[0], [1], [1]], [], 1, [[0], [1], [1]], ext=ext)


def perms(rows: int = 3, flags: list[int] | None = None) -> bytes:
    return section(PERMISSIONS, rows, 0, flags if flags is not None else [0] * rows)


def where(r: dict[str, Any]) -> tuple[int, str]:
    assert "error" in r, f"accepted: {r}"
    return r["error"]["offset"], r["error"]["field"]


@pytest.fixture
def c_refusals(acm_frames: Callable[..., list[dict[str, Any]]]) -> Callable[[list[bytes]], list[tuple[int, str, str]]]:
    """The C parser's (offset, field, message) for each blob, which must be refused."""

    def run(blobs: list[bytes]) -> list[tuple[int, str, str]]:
        out = acm_frames(blobs)
        assert all("error" in r for r in out), out
        return [(r["error"]["offset"], r["error"]["field"], r["message"]) for r in out]

    return run


def test_the_builder_writes_what_the_compiler_writes(agree) -> None:
    """The crafted blobs are valid where they should be: a check on the tool the tests below use."""
    plain, with_ext = agree([rows3(), rows3(extension(perms()))])
    assert plain["loadable"] and plain["chwall"]["ssid"] == ["0", "1", "1"] and plain["ext"] is None
    assert with_ext["ext"]["flags"] == [0, 0, 0]


def test_a_callers_mistakes(acm_check_bin: Path) -> None:
    """No view to fill or no blob (of a size other than 0) is refused as "no blob" before anything
    is read or written; no blob of size 0 is merely too short; no error record is allowed."""
    proc = subprocess.run([str(acm_check_bin), "--api"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = {r.pop("case"): r for r in map(json.loads, proc.stdout.splitlines())}
    no_blob = {"rc": -1, "offset": 0, "field": "header", "message": "no blob"}
    assert got == {
        "no view": no_blob,
        "no view, no blob": no_blob,
        "no blob, size 0": {"rc": -1, "offset": 0, "field": "header", "message": "shorter than the 60-byte header"},
        "no blob, size 1": no_blob,
        "no blob, size 64": no_blob,
        "no error record": {"rc": -1, "offset": 0, "field": "", "message": ""},
    }


def test_a_cell_of_2(agree) -> None:
    """A matrix cell is 0 or 1: a low byte of 2 is refused, in each of the three matrices."""
    ok = rows3()
    cases = {
        blob(1, [[0], [2], [1]], [], 1, [[0], [1], [1]]): "chwall.ssidrefs[1][0]",
        blob(1, [[0], [1], [1]], [[2]], 1, [[0], [1], [1]]): "chwall.conflict_sets[0][0]",
        blob(1, [[0], [1], [1]], [], 1, [[0], [1], [2]]): "ste.ssidrefs[2][0]",
    }
    results = agree([*cases, ok])
    for want, r in zip(cases.values(), results[:-1], strict=True):
        assert where(r)[1] == want
    assert "error" not in results[-1]


def test_name_bytes_at_the_ascii_bound(agree) -> None:
    """0x7f is the last ASCII character a name may hold; 0x80 is refused at its own offset."""
    ok, bad, first = agree([blob(1, [[0], [1]], [], 1, [[0], [1]], name=b"a\x7fz"),
                            blob(1, [[0], [1]], [], 1, [[0], [1]], name=b"a\x80z"),
                            blob(1, [[0], [1]], [], 1, [[0], [1]], name=b"\x80")])
    assert ok["name"] == "a\x7fz"
    assert where(bad) == (65, "policy_reference.name") and where(first) == (64, "policy_reference.name")


def test_a_blob_too_short_for_its_name_length(c_refusals) -> None:
    """Blobs of 60 to 64 bytes whose header's len says so: up to 63 bytes the name's length word
    does not fit; at 64 it is read, and a length of 0 is out of range, another of 1..1024 runs
    past the end. All at offset 60; only the message tells them apart."""
    head = rows3()[:60]
    cut = [struct.pack("!I", n) for n in range(60, 65)]
    cases = [head[:8] + cut[n - 60] + head[12:] + bytes(n - 60) for n in range(60, 64)]
    cases.append(head[:8] + cut[4] + head[12:60] + struct.pack("!I", 0))
    cases.append(head[:8] + cut[4] + head[12:60] + struct.pack("!I", 1))
    got = c_refusals(cases)
    past = (60, "policy_reference.len", "runs past the end of the blob")
    assert got == [past] * 4 + [(60, "policy_reference.len", "name length out of range"), past]
    assert [(e[0], e[1]) for e in got] == [where(py_decode(b)) for b in cases]


def test_the_largest_blob(agree) -> None:
    """64 MiB is the largest blob: one of exactly that size is read on (and refused where its
    extension should start), one 8 bytes larger is refused at its len."""
    small = rows3()
    at_bound = bytearray(MAX_POLICY_SIZE)  # small, then zeros to the bound
    at_bound[:len(small)] = small
    struct.pack_into("!I", at_bound, 8, MAX_POLICY_SIZE)
    above = at_bound + bytes(8)
    struct.pack_into("!I", above, 8, MAX_POLICY_SIZE + 8)
    ok, bad = agree([bytes(at_bound), bytes(above)])
    assert where(ok) == (len(small), "ext.magic")
    assert where(bad) == (8, "len")


def test_loadable_needs_two_rows(agree) -> None:
    """A Chinese Wall policy with one ssidref parses but is not loadable: there is no row for the
    bootstrap label. With two it is."""
    one, two = agree([blob(1, [[1]], [], 1, [[1], [1]]), blob(1, [[0], [1]], [], 1, [[1], [1]])])
    assert one["chwall"]["ssidrefs"] == 1 and not one["loadable"]
    assert two["loadable"]


def test_sched_bounds(agree) -> None:
    """A SCHED section's weight is at most 65535 and its cap at most 100 (each checked on every
    row, row 0 too); a section that sets only a weight, only a cap, or only row 0's sets something."""
    def sched(cells: list[int]) -> bytes:
        return rows3(extension(perms(), section(SCHED, 3, 2, cells)))

    cases = {
        sched([0, 0, 65535, 100, 0, 0]): None,
        sched([0, 0, 65536, 0, 0, 0]): "ext.sched.weight[1]",
        sched([0, 0, 0, 101, 0, 0]): "ext.sched.cap[1]",
        sched([65536, 0, 1, 0, 0, 0]): "ext.sched.weight[0]",
        sched([0, 101, 1, 0, 0, 0]): "ext.sched.cap[0]",
        sched([1, 0, 0, 0, 0, 0]): None,  # row 0's weight alone
        sched([0, 0, 0, 0, 7, 0]): None,  # a weight alone, in the last row
        sched([0, 0, 0, 0, 0, 50]): None,  # a cap alone, in the last row
        sched([0, 0, 0, 0, 0, 0]): "ext.section.type[1]",  # sets nothing
    }
    for (_b, want), r in zip(cases.items(), agree(list(cases)), strict=True):
        if want is None:
            assert "error" not in r, r
        else:
            assert where(r)[1] == want, r
    ok = py_decode(sched([0, 0, 65535, 100, 0, 0]))
    assert ok["ext"]["sched"] == [[0, 0], [65535, 100], [0, 0]]


def test_the_sched_section_last_in_the_blob(agree) -> None:
    """A SCHED section that ends the blob, its last row empty: the scan for "sets something" reads
    that row's two words and not a byte after them (the sanitizers would stop acm_check)."""
    b = rows3(extension(perms(), section(SCHED, 3, 2, [0, 0, 3, 0, 0, 0])))
    assert b[-8:] == bytes(8)
    (r,) = agree([b])
    assert r["ext"]["sched"] == [[0, 0], [3, 0], [0, 0]]


def test_quota_rows_at_the_bound(agree) -> None:
    """Quotas work for at most 1024 label rows: a QUOTAS section of 1024 rows is accepted, one of
    1025 refused at its rows word."""
    at_bound = compile_policy(read_policy(SCENARIOS / "mac-test-quota1024.toml"))
    assert decode(at_bound).chwall.ssidrefs == 1024
    many = compile_policy(read_policy(SCENARIOS / "mac-test-many.toml"))
    e = decode(many).ext
    assert e is not None and e.rows == 1025
    o, i = e.offset + 16, 0
    while struct.unpack_from("!I", many, o)[0] != SCHED:
        o, i = o + struct.unpack_from("!I", many, o + 4)[0], i + 1
    relabelled = many[:o] + struct.pack("!I", QUOTAS) + many[o + 4 :]
    ok, bad = agree([at_bound, relabelled])
    assert "error" not in ok and ok["ext"]["quotas"][1][4] == 4  # system's maptrack
    assert where(bad) == (o + 8, f"ext.section.rows[{i}]")


def test_padding_after_an_odd_number_of_rows(agree) -> None:
    """Three rows of one word leave 4 bytes of padding in a PERMISSIONS, DEVICES or TARGETS
    section: each of those bytes must be 0."""
    flags = [0, 1, 1]  # rows 1 and 2 may create row 2
    secs = [perms(flags=flags), section(DEVICES, 3, 0, [0, 1, 0]), section(TARGETS, 3, 1, [0, 4, 4])]
    ok = rows3(extension(*secs))
    cases = {}
    o = len(ok) - sum(len(s) for s in secs)
    for s in secs:
        for byte in range(28, 32):
            bad = bytearray(ok)
            bad[o + byte] = 1
            cases[bytes(bad)] = o + byte
        o += len(s)
    results = agree([ok, *cases])
    assert "error" not in results[0] and results[0]["ext"]["targets"]["create"] == [[], [2], [2]]
    for (_b, at), r in zip(cases.items(), results[1:], strict=True):
        assert where(r) == (at, "ext.padding")


@pytest.mark.parametrize("rows", [5, 31, 32, 33, 63])
def test_target_bits_past_the_last_row(rows: int, agree) -> None:
    """A targets bitmap may name rows 0..rows-1 only: with rows % 32 bits in its last word, the
    next bit up is refused; a policy of 31 rows (a last word of 31 bits) is accepted whole."""
    words = (rows + 31) // 32
    flags = [0] * rows
    flags[1] = 1
    bitmap = [0] * (rows * words)
    bitmap[words * 1] = 1  # row 1 may create row 0
    ok = blob(1, [[0]] + [[1]] * (rows - 1), [], 1, [[1]] * rows,
              ext=extension(perms(rows, flags), section(TARGETS, rows, words, bitmap)))
    results = agree([ok])
    assert "error" not in results[0], results[0]
    if rows % 32 == 0:
        return
    last = len(ok) - len(pad8(struct.pack(f"!{rows * words}I", *bitmap))) + 4 * (words * 1 + words - 1)
    bad = bytearray(ok)
    struct.pack_into("!I", bad, last, struct.unpack_from("!I", ok, last)[0] | 1 << (rows % 32))
    (r,) = agree([bytes(bad)])
    assert where(r) == (last, "ext.targets[1][1]")


def test_the_extensions_length(agree) -> None:
    """The extension's len: exactly its header (16, no sections) is read on and refused for having
    no permissions section; a length that is not a multiple of 8 is refused at len."""
    header_only = rows3(extension())
    e = len(rows3())
    unaligned = rows3(extension(perms()) + bytes(4))
    unaligned = unaligned[: e + 8] + struct.pack("!I", len(unaligned) - e) + unaligned[e + 12 :]
    none, odd = agree([header_only, unaligned])
    assert where(none) == (e + 12, "ext.sections")
    assert where(odd) == (e + 8, "ext.len")


def test_sections_at_the_end_of_the_extension(agree, c_refusals) -> None:
    """A section header that ends exactly where the extension does is read (its length of 8 is
    then too short); one whose length runs past the end, or is not a multiple of 8, is refused at
    its length before its rows are read. The last two share an offset and a field with "does not
    match its rows": the message tells them apart."""
    e = len(rows3())
    p = perms()
    cases = [
        rows3(extension(p, struct.pack("!2I", DEVICES, 8))),  # a header of 8 bytes, ending the extension
        rows3(extension(p, struct.pack("!2I", DEVICES, 24))),  # claims 24 bytes where 8 remain
        rows3(extension(p, section(DEVICES, 3, 0, [1, 0, 0], length=20))),
    ]
    o = e + 16 + len(p)
    results = agree(cases)
    assert [where(r) for r in results] == [(o + 4, "ext.section.len[1]")] * 3
    msgs = [m for _, _, m in c_refusals(cases)]
    assert msgs == ["shorter than its header", "runs past the end of the extension",
                    "runs past the end of the extension"]


def test_a_target_section_that_names_no_one(agree) -> None:
    """A targets section of each targeted permission with an empty bitmap in every row is refused
    at its type, with its index; so is one after another section of the same kind."""
    cases = {}
    for bit in (0, 1, 2, 4, 5, 6):
        b = rows3(extension(perms(), section(TARGETS + bit, 3, 1, [0, 0, 0])))
        cases[b] = len(rows3()) + 16 + len(perms())
    two = rows3(extension(perms(flags=[0, 1, 0]), section(TARGETS, 3, 1, [0, 1, 0]),
                          section(TARGETS + 1, 3, 1, [0, 0, 0])))
    cases[two] = len(rows3()) + 16 + len(perms()) + 32
    results = agree(list(cases))
    for (b, at), r in zip(cases.items(), results, strict=True):
        index = 2 if b is two else 1
        assert where(r) == (at, f"ext.section.type[{index}]"), r


@pytest.mark.parametrize("kind", [0, 5, 6, 15, 19, 23, 24, 0xFFFFFFFF])
def test_unknown_section_types(kind: int, agree) -> None:
    """Types 1-4 and 16 + a targeted permission's bit are known; any other (0, 5-15, 19 for
    load_policy which names no one, 23 past the bits, larger) is refused at its type."""
    (r,) = agree([rows3(extension(perms(), section(kind, 3, 0, [0, 0, 0])))])
    assert where(r) == (len(rows3()) + 16 + len(perms()), "ext.section.type[1]")
