# SPDX-License-Identifier: MIT
"""Resource quotas in the policy extension (docs/resource-control.md): both languages, the
compiler, dump and query, and the QUOTAS section's malformed forms, refused by the Python and
the C decoders at the same (offset, field)."""

from __future__ import annotations

import struct

import pytest

from moat.policy import compile_policy, read_policy
from moat.policy.binary import SEC_QUOTAS, decode
from moat.policy.model import QUOTA_UNLIMITED, numbering
from moat.policy.writers import to_toml, to_xml
from moat.pytest_plugin import MoatCli
from tests.policy.conftest import ROOT

POLICY = ROOT / "tests" / "scenarios" / "policies" / "quota-test.toml"
U = QUOTA_UNLIMITED


@pytest.fixture(scope="module")
def blob() -> bytes:
    return compile_policy(read_policy(POLICY))


def put32(b: bytes, off: int, v: int) -> bytes:
    return b[:off] + struct.pack("!I", v & 0xFFFFFFFF) + b[off + 4:]


def quotas_at(b: bytes) -> int:
    e = decode(b).ext
    assert e is not None
    o = e.offset + 16
    for _ in range(e.sections):
        if int.from_bytes(b[o:o + 4], "big") == SEC_QUOTAS:
            return o
        o += int.from_bytes(b[o + 4:o + 8], "big")
    raise AssertionError("no quotas section")


def test_quotas_compile_and_decode(blob: bytes, agree) -> None:
    (r,) = agree([blob])
    q = dict(zip(numbering(read_policy(POLICY)).vm_rows, r["ext"]["quotas"], strict=True))
    assert q["small"] == [1024, U, U, U, U]  # 1 MiB
    assert q["big"] == [65536, U, U, U, U]
    assert q["mgr"] == [U, 3, U, U, U]  # 3 domains
    assert q["lim"] == [U, U, 8, 1, 4]  # ports, grant frames, maptrack
    assert q["free"] == q["system"] == q["tenant"] == [U] * 5


def test_both_languages_give_the_same_blob(blob: bytes, tmp_path) -> None:
    pol = read_policy(POLICY)
    x = tmp_path / "q.xml"
    x.write_text(to_xml(pol))
    t = tmp_path / "q.toml"
    t.write_text(to_toml(pol))
    for path in (x, t):
        other = compile_policy(read_policy(path))
        assert decode(other).ext == decode(blob).ext


def test_quota_only_policy_has_an_extension(tmp_path) -> None:
    src = POLICY.read_text().replace(', load_policy = true, read_state = true }', ' }')
    src = "\n".join(line for line in src.split("\n") if not line.startswith("permissions"))
    p = tmp_path / "q.toml"
    p.write_text(src)
    e = decode(compile_policy(read_policy(p))).ext
    assert e is not None and e.quotas[6][0] == 1024 and not any(e.flags)


@pytest.mark.parametrize(("value", "words"), [
    ('{ memory = "1X" }', "must be a size"),
    ("{ domains = -1 }", "whole number"),
    ("{ ports = true }", "whole number"),
    ("{ maptrak = 4 }", "unknown quota 'maptrak'"),
    ("3", "quota must be a table"),
])
def test_bad_quota_is_reported_at_its_line(tmp_path, value: str, words: str, moat_cli: MoatCli) -> None:
    src = POLICY.read_text().replace('quota = { memory = "1M" }', f"quota = {value}")
    p = tmp_path / "bad.toml"
    p.write_text(src)
    r = moat_cli("policy", "check", str(p))
    assert r.returncode != 0 and words in r.stdout + r.stderr, r.stdout + r.stderr
    assert "bad.toml:27" in r.stdout + r.stderr


def test_malformed_quotas_section(blob: bytes, agree) -> None:
    q = quotas_at(blob)
    rows = decode(blob).ext.rows  # type: ignore[union-attr]
    every_cell_unlimited = blob
    for c in range(rows * 5):
        every_cell_unlimited = put32(every_cell_unlimited, q + 16 + 4 * c, U)
    cases = {
        put32(blob, q + 12, 6): (q + 12, "ext.section.fields[1]"),
        put32(blob, q + 8, rows - 1): (q + 8, "ext.section.rows[1]"),
        put32(blob, q + 4, 16): (q + 4, "ext.section.len[1]"),
        put32(blob, q + 4, 8): (q + 4, "ext.section.len[1]"),
        put32(blob, q, 2): (q + 12, "ext.section.reserved[1]"),  # read as a DEVICES section
        put32(blob, q, 5): (q, "ext.section.type[1]"),  # unknown type (4 is SCHED)
        put32(blob, q, 1): (q, "ext.section.type[1]"),  # repeated
        every_cell_unlimited: (q, "ext.section.type[1]"),  # limits nothing
    }
    results = agree(list(cases))
    for (_b, want), r in zip(cases.items(), results, strict=True):
        assert "error" in r, want
        assert (r["error"]["offset"], r["error"]["field"]) == want, r


def test_dump_and_query_show_quotas(blob: bytes, tmp_path, moat_cli: MoatCli) -> None:
    b = tmp_path / "q.bin"
    b.write_bytes(blob)
    r = moat_cli("policy", "dump", str(b))
    assert r.returncode == 0, r.stderr
    dump = r.stdout
    assert "quotas section" in dump and "quota: memory=1M" in dump
    assert "quota: ports=8 grant_frames=1 maptrack=4" in dump
    r = moat_cli("policy", "query", str(POLICY), "mgr", "lim")
    assert r.returncode == 0, r.stderr
    q = r.stdout
    assert "quota: mgr: domains=3" in q and "quota: lim: ports=8 grant_frames=1 maptrack=4" in q
