# SPDX-License-Identifier: MIT
"""Malformed blobs: both decoders refuse them at the same (offset, field); never a traceback."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

from moat.policy import BlobError, compile_policy, read_policy
from moat.policy.binary import decode
from moat.policy.model import MAX_SSIDREFS, MAX_TYPES
from tests.policy.conftest import CORPUS, EXAMPLES, ROOT, py_decode


@pytest.fixture(scope="module")
def blob() -> bytes:
    return compile_policy(read_policy(CORPUS / "derived" / "xmtest09_1_good.xml"))


@pytest.fixture(scope="module")
def ext_blob() -> bytes:
    return compile_policy(read_policy(EXAMPLES / "demo.toml"))


def put32(b: bytes, off: int, v: int) -> bytes:
    return b[:off] + struct.pack("!I", v & 0xFFFFFFFF) + b[off + 4 :]


def err(b: bytes) -> tuple[int, str]:
    r = py_decode(b)
    assert "error" in r, "accepted"
    return r["error"]["offset"], r["error"]["field"]


def test_valid_blobs_roundtrip(blob: bytes, ext_blob: bytes, agree) -> None:
    a, b = agree([blob, ext_blob])
    assert a["ext"] is None and a["loadable"]
    assert b["ext"] is not None and b["ext"]["flags"][1] == 0x1F


def test_truncated_at_every_offset(blob: bytes, ext_blob: bytes, agree) -> None:
    cases = [b[:n] for b in (blob, ext_blob) for n in range(len(b))]
    cases += [put32(c, 8, len(c)) for c in cases if len(c) >= 12]  # with a matching len field
    ext_at = decode(ext_blob).ext.offset  # type: ignore[union-attr]
    for c, r in zip(cases, agree(cases), strict=True):
        # cutting the optional extension off (and fixing len) leaves a valid standard blob
        assert "error" in r or (len(c) == ext_at and c[:ext_at] == put32(ext_blob, 8, ext_at)[:ext_at])


def test_every_byte_changed(blob: bytes, ext_blob: bytes, agree) -> None:
    changed = [(b, i, b[:i] + bytes([b[i] ^ x]) + b[i + 1 :])
               for b in (blob, ext_blob) for i in range(len(b)) for x in (0x01, 0x80)]
    results = agree([c for _, _, c in changed])
    original = {b: py_decode(b) for b in (blob, ext_blob)}
    # only the hash and the version words are free; everything else is checked
    for (b, i, _c), r in zip(changed, results, strict=True):
        if 32 <= i < 60:
            assert "error" not in r
        elif "error" not in r:
            # a flipped cell 0<->1 or a flipped name character keeps a valid blob
            assert r != original[b]


def test_header_fields(blob: bytes) -> None:
    assert err(put32(blob, 0, 0xBCDE0100)) == (0, "magic")
    assert err(put32(blob, 4, 3)) == (4, "policy_version")
    assert err(put32(blob, 8, len(blob) + 8)) == (8, "len")
    assert err(blob + b"\0" * 8) == (8, "len")
    assert err(put32(blob, 12, 64)) == (12, "policy_reference_offset")
    assert err(put32(blob, 16, 3)) == (16, "primary_policy_code")
    assert err(put32(blob, 20, 0xFFFFFFF0)) == (20, "primary_buffer_offset")
    assert err(put32(blob, 24, 15)) == (24, "secondary_policy_code")
    assert err(put32(blob, 28, len(blob))) == (28, "secondary_buffer_offset")
    assert err(put32(blob, 60, 0)) == (60, "policy_reference.len")
    assert err(put32(blob, 60, 0xFFFFFFFF)) == (60, "policy_reference.len")
    assert err(b"\0" * 59) == (0, "header")


def test_overflowing_dimensions(blob: bytes, agree) -> None:
    c = decode(blob).chwall.offset
    s = decode(blob).ste.offset
    cases = {
        put32(blob, c + 8, 0xFFFFFFFF): (c + 8, "chwall.max_types"),
        put32(blob, c + 12, 0x80000001): (c + 12, "chwall.max_ssidrefs"),
        put32(blob, c + 16, 0x40000000): (c + 16, "chwall.max_conflictsets"),
        put32(blob, s + 8, MAX_TYPES + 1): (s + 8, "ste.max_types"),
        put32(blob, s + 12, MAX_SSIDREFS + 1): (s + 12, "ste.max_ssidrefs"),
        put32(blob, s + 12, 1): (s + 12, "ste.max_ssidrefs"),
        # in bounds but the matrix would run past the end (the offset word is consistent)
        put32(put32(blob, c + 8, MAX_TYPES), c + 24, 36 + 2 * MAX_TYPES * 5): (c, "chwall"),
        put32(blob, s + 8, MAX_TYPES): (s, "ste"),
        put32(blob, c + 24, 0): (c + 24, "chwall.conflict_sets_offset"),
        put32(blob, c + 28, 1): (c + 28, "chwall.running_types_offset"),
    }
    results = agree(list(cases))
    for (_b, want), r in zip(cases.items(), results, strict=True):
        assert (r["error"]["offset"], r["error"]["field"]) == want


def test_cells_and_padding(blob: bytes) -> None:
    d = decode(blob)
    cell = d.chwall.offset + 36 + 2 * (1 * d.chwall.types + 0)
    assert err(blob[:cell] + b"\0\2" + blob[cell + 2 :]) == (cell, "chwall.ssidrefs[1][0]")
    assert err(blob[:cell] + b"\1\0" + blob[cell + 2 :]) == (cell, "chwall.ssidrefs[1][0]")
    pad = 64 + len(d.name) + 1
    assert err(blob[:pad] + b"x" + blob[pad + 1 :]) == (pad, "policy_reference.padding")


def test_extension_fields(ext_blob: bytes, agree) -> None:
    """Extension version 2 (docs/policy-format.md section 7): header, then typed sections."""
    e = decode(ext_blob).ext
    assert e is not None and e.version == 2 and e.sections >= 2
    o, rows = e.offset, e.rows
    words = (rows + 31) // 32
    s0 = o + 16  # PERMISSIONS
    sd = s0 + ((16 + 4 * rows + 7) & ~7)  # DEVICES (tpm-agent's)
    sq = sd + ((16 + 4 * rows + 7) & ~7)  # QUOTAS (customer-b's domains)
    s1 = sq + int.from_bytes(ext_blob[sq + 4:sq + 8], "big")  # the first TARGETS section (create)
    assert [int.from_bytes(ext_blob[x:x + 4], "big") for x in (s0, sd, sq, s1)] == [1, 2, 3, 16]
    agent = 9  # tpm-agent's row, the one label that may hold devices
    assert e.devices == [0] * agent + [0b11]
    last_word_row1 = s1 + 16 + 4 * (1 * words + words - 1)
    cases = {
        put32(ext_blob, o, 0x12345678): (o, "ext.magic"),
        put32(ext_blob, o + 4, 1): (o + 4, "ext.version"),  # version 1 is refused: one layout only
        put32(ext_blob, o + 8, 8): (o + 8, "ext.len"),
        put32(ext_blob, o + 12, 65): (o + 12, "ext.sections"),
        put32(ext_blob, o + 12, e.sections - 1): (o + 12, "ext.sections"),  # sections do not fill it
        put32(ext_blob, s0, 5): (s0, "ext.section.type[0]"),  # unknown type (4 is SCHED)
        put32(ext_blob, s0, 19): (s0, "ext.section.type[0]"),  # load_policy names no targets
        put32(ext_blob, s0 + 4, 12): (s0 + 4, "ext.section.len[0]"),
        put32(ext_blob, s0 + 4, 8): (s0 + 4, "ext.section.len[0]"),
        put32(ext_blob, s0 + 8, 7): (s0 + 8, "ext.section.rows[0]"),
        put32(ext_blob, s0 + 12, 1): (s0 + 12, "ext.section.reserved[0]"),
        put32(ext_blob, s0 + 16 + 4, 0x80): (s0 + 20, "ext.flags[1]"),  # unknown bit
        put32(ext_blob, s0 + 16 + 4, 0x1E): (s0 + 20, "ext.flags[1]"),  # CREATE dropped, targets left
        put32(ext_blob, sd, 1): (sd, "ext.section.type[1]"),  # repeated / out of order
        put32(ext_blob, sd, 5): (sd, "ext.section.type[1]"),  # unknown type (4 is SCHED)
        put32(ext_blob, sd + 12, 1): (sd + 12, "ext.section.reserved[1]"),
        put32(ext_blob, sd + 16 + 4 * agent, 0x4): (sd + 16 + 4 * agent, "ext.devices[9]"),  # no device 2
        put32(ext_blob, sd + 16 + 4 * agent, 0): (sd, "ext.section.type[1]"),  # a devices section giving none
        put32(ext_blob, s1, 2): (s1, "ext.section.type[3]"),  # out of order
        put32(ext_blob, s1 + 12, words + 1): (s1 + 12, "ext.section.words[3]"),
        put32(ext_blob, last_word_row1, 1 << 31): (last_word_row1, "ext.targets[3][1]"),
        put32(ext_blob, s1 + 16 + 4 * words, 0): (s0 + 20, "ext.flags[1]"),  # system creates no one
        put32(ext_blob, s1 + 16 + 4 * words * 2, 1): (s0 + 24, "ext.flags[2]"),  # a target without the flag
    }
    assert rows % 32 != 0
    results = agree(list(cases))
    for (_b, want), r in zip(cases.items(), results, strict=True):
        assert (r["error"]["offset"], r["error"]["field"]) == want, r


def test_xen_unloadable_blobs_decode(agree) -> None:
    """STE-only policies: Xen 4.1's compiler writes codes STE/UNDEFINED; dump shows them as not loadable."""
    b = compile_policy(read_policy(CORPUS / "synthetic" / "s03_ste_only.xml"))
    (r,) = agree([b])
    assert r["primary"] == 2 and r["secondary"] == 15 and not r["loadable"]


def test_dump_malformed_cli_message(blob: bytes, tmp_path) -> None:
    p = tmp_path / "bad.bin"
    p.write_bytes(put32(blob, 4, 9))
    r = subprocess.run(
        [sys.executable, "-m", "moat", "policy", "dump", str(p)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "tools")},
    )
    assert r.returncode == 1
    assert "offset 4 (policy_version)" in r.stderr
    assert "Traceback" not in r.stderr


def compiled(path) -> bytes:
    return compile_policy(read_policy(path))


def with_name(b: bytes, name: bytes) -> bytes:
    """The blob with another policy-reference name: the sections after it move, and the three
    header words that hold their offsets or the size with them."""
    old = (4 + int.from_bytes(b[60:64], "big") + 7) & ~7
    ref = struct.pack("!I", len(name) + 1) + name + b"\0"
    ref += b"\0" * (-len(ref) % 8)
    out = b[:60] + ref + b[60 + old :]
    delta = len(ref) - old
    for off in (20, 28):
        out = put32(out, off, int.from_bytes(b[off : off + 4], "big") + delta)
    return put32(out, 8, len(out))


def test_the_layouts_policy_codes(blob: bytes, agree) -> None:
    """Each of the three layouts' checks of the header's codes and the secondary offset, on a
    blob of each layout: both decoders refuse each at the same offset and field."""
    ste = compiled(CORPUS / "synthetic" / "s03_ste_only.xml")
    none = compiled(ROOT / "tests" / "scenarios" / "policies" / "mac-test-none.toml")
    one_type = compiled(ROOT / "tests" / "scenarios" / "policies" / "sched-test.toml")
    chwall_only = compiled(CORPUS / "synthetic" / "s04_chwall_only.xml")
    assert (decode(chwall_only).chwall.types, decode(chwall_only).ste.types) == (3, 0)
    assert [decode(b).primary for b in (blob, ste, none, one_type)] == [1, 2, 15, 1]
    assert decode(one_type).chwall.types == 1  # the least a Chinese Wall policy may have
    cases = {
        put32(blob, 16, 2): (16, "primary_policy_code"),  # STE, but Chinese Wall types
        put32(blob, 16, 15): (16, "primary_policy_code"),  # UNDEFINED, but types
        put32(ste, 16, 1): (16, "primary_policy_code"),  # Chinese Wall without its types
        put32(ste, 16, 15): (16, "primary_policy_code"),  # UNDEFINED, but STE types
        put32(ste, 24, 2): (24, "secondary_policy_code"),
        put32(ste, 28, int.from_bytes(ste[28:32], "big") + 8): (28, "secondary_buffer_offset"),
        put32(chwall_only, 16, 15): (16, "primary_policy_code"),  # UNDEFINED, but Chinese Wall types alone
        put32(none, 16, 1): (16, "primary_policy_code"),
        put32(none, 16, 2): (16, "primary_policy_code"),  # STE without STE types
        put32(none, 24, 1): (24, "secondary_policy_code"),
        put32(none, 28, int.from_bytes(none[28:32], "big") + 8): (28, "secondary_buffer_offset"),
        put32(none, 28, int.from_bytes(none[28:32], "big") - 8): (28, "secondary_buffer_offset"),
    }
    results = agree([*cases, one_type])
    for (_b, want), r in zip(cases.items(), results[:-1], strict=True):
        assert (r["error"]["offset"], r["error"]["field"]) == want, r
    assert results[-1]["loadable"] and results[-1]["chwall"]["types"] == 1


def test_the_longest_name(blob: bytes, agree) -> None:
    """1023 bytes and the NUL is the longest name; one more is refused at its length. The empty
    name (its NUL alone) is the shortest."""
    longest, longer = with_name(blob, b"n" * 1023), with_name(blob, b"n" * 1024)
    ok, bad, empty = agree([longest, longer, with_name(blob, b"")])
    assert empty["name"] == "" and "error" not in empty
    moved = {k: v for k, v in py_decode(blob)["chwall"].items() if k != "offset"}
    assert ok["name"] == "n" * 1023 and {k: v for k, v in ok["chwall"].items() if k != "offset"} == moved
    assert (bad["error"]["offset"], bad["error"]["field"]) == (60, "policy_reference.len")


def test_a_section_of_just_its_header(ext_blob: bytes, acm_check_bin, tmp_path) -> None:
    """A section length of 16 holds its header and no rows: not "shorter than its header" but
    "does not match its rows", for a table of words (PERMISSIONS, DEVICES, TARGETS) and one of
    rows of fields (QUOTAS). Only the message tells these apart (same offset and field)."""
    e = decode(ext_blob).ext
    assert e is not None
    o, cases = e.offset + 16, []
    for _ in range(e.sections):
        cases.append((int.from_bytes(ext_blob[o : o + 4], "big"), put32(ext_blob, o + 4, 16), o + 4))
        o += int.from_bytes(ext_blob[o + 4 : o + 8], "big")
    assert {1, 2, 3} <= {t for t, _, _ in cases}
    for i, (_t, b, _off) in enumerate(cases):
        (tmp_path / f"{i}.bin").write_bytes(b)
    proc = subprocess.run([str(acm_check_bin), *(str(tmp_path / f"{i}.bin") for i in range(len(cases)))],
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    for (_t, b, off), line in zip(cases, proc.stdout.splitlines(), strict=True):
        got = json.loads(line)
        assert got["error"]["offset"] == off and got["message"] == "does not match its rows", got
        with pytest.raises(BlobError) as why:
            decode(b)
        assert why.value.offset == off and why.value.message.endswith("does not match its rows")


def test_a_limit_the_quota_scan_must_not_step_over(agree) -> None:
    """A QUOTAS section whose only limit is one byte below "unlimited" in one cell's first byte
    (0x00ffffff: 16 M domains) still limits something, so it is accepted; a scan that stepped
    over that byte would refuse it as limiting nothing. Every cell's first byte, in turn."""
    b = compiled(ROOT / "tests" / "scenarios" / "policies" / "quota-test.toml")
    e = decode(b).ext
    assert e is not None
    o, i = e.offset + 16, 0
    while int.from_bytes(b[o : o + 4], "big") != 3:  # the QUOTAS section, the i-th
        o, i = o + int.from_bytes(b[o + 4 : o + 8], "big"), i + 1
    cells = (int.from_bytes(b[o + 4 : o + 8], "big") - 16) // 4
    unlimited = b[: o + 16] + b"\xff" * 4 * cells + b[o + 16 + 4 * cells :]
    cases = [unlimited[: o + 16 + 4 * k] + b"\0\xff\xff\xff" + unlimited[o + 20 + 4 * k :] for k in range(cells)]
    short = put32(b, o + 4, 8)  # a length below the header of a table of rows: refused at the length
    *accepted, refused, too_short = agree([*cases, unlimited, short])
    assert all("error" not in r for r in accepted)
    assert (refused["error"]["offset"], refused["error"]["field"]) == (o, f"ext.section.type[{i}]")
    assert (too_short["error"]["offset"], too_short["error"]["field"]) == (o + 4, f"ext.section.len[{i}]")


def test_header_fields_in_both_decoders(blob: bytes, agree) -> None:
    """test_header_fields' blobs, through the C parser too."""
    cases = {
        put32(blob, 0, 0xBCDE0100): (0, "magic"),
        put32(blob, 4, 3): (4, "policy_version"),
        put32(blob, 8, len(blob) + 8): (8, "len"),
        put32(blob, 12, 64): (12, "policy_reference_offset"),
        put32(blob, 16, 3): (16, "primary_policy_code"),
        put32(blob, 20, 0xFFFFFFF0): (20, "primary_buffer_offset"),
        put32(blob, 24, 15): (24, "secondary_policy_code"),
        put32(blob, 28, len(blob)): (28, "secondary_buffer_offset"),
        put32(blob, 60, 0): (60, "policy_reference.len"),  # an empty name has no room for its NUL
        put32(blob, 60, 0xFFFFFFFF): (60, "policy_reference.len"),
        b"\0" * 59: (0, "header"),
    }
    for (_b, want), r in zip(cases.items(), agree(list(cases)), strict=True):
        assert (r["error"]["offset"], r["error"]["field"]) == want, r
