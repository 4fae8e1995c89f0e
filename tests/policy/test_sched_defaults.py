# SPDX-License-Identifier: MIT
"""Per-label scheduling defaults in the policy extension (docs/resource-control.md): `sched = {
weight = .., cap = .. }` in TOML and `<moat:Sched/>` in XML, the compiler's errors (where and why),
dump, and the SCHED section's malformed forms, refused by the Python and the C decoders at the
same (offset, field). The hypervisor's use of them: tests/resource/test_shares.py."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from moat.policy import compile_policy, read_policy
from moat.policy.binary import SEC_SCHED, decode
from moat.policy.model import numbering
from moat.policy.writers import to_toml, to_xml
from moat.pytest_plugin import MoatCli
from tests.policy.conftest import ROOT

POLICY = ROOT / "tests" / "scenarios" / "policies" / "sched-test.toml"
SCHED_LINE = 25  # the line of `sched = { cap = 20 }` in POLICY


def two_defaults(tmp_path: Path) -> Path:
    """POLICY with a weight and a cap on capped20 and a weight alone on plain."""
    src = POLICY.read_text().replace("sched = { cap = 20 }", "sched = { weight = 512, cap = 20 }")
    src += 'sched = { weight = 64 }\n'
    p = tmp_path / "two.toml"
    p.write_text(src)
    return p


def put32(b: bytes, off: int, v: int) -> bytes:
    return b[:off] + struct.pack("!I", v & 0xFFFFFFFF) + b[off + 4:]


def sched_at(b: bytes) -> int:
    e = decode(b).ext
    assert e is not None
    o = e.offset + 16
    for _ in range(e.sections):
        if int.from_bytes(b[o:o + 4], "big") == SEC_SCHED:
            return o
        o += int.from_bytes(b[o + 4:o + 8], "big")
    raise AssertionError("no sched section")


def test_defaults_compile_and_decode(tmp_path: Path, agree) -> None:
    p = two_defaults(tmp_path)
    (r,) = agree([compile_policy(read_policy(p))])
    s = dict(zip(numbering(read_policy(p)).vm_rows, r["ext"]["sched"], strict=True))
    assert s["capped20"] == [512, 20]
    assert s["plain"] == [64, 0]
    assert s["system"] == [0, 0]


def test_both_languages_give_the_same_blob(tmp_path: Path) -> None:
    pol = read_policy(two_defaults(tmp_path))
    blob = compile_policy(pol)
    x = tmp_path / "s.xml"
    x.write_text(to_xml(pol))
    assert '<moat:Sched weight="512" cap="20"/>' in x.read_text()
    t = tmp_path / "s.toml"
    t.write_text(to_toml(pol))
    for path in (x, t):
        assert decode(compile_policy(read_policy(path))).ext == decode(blob).ext


def test_a_policy_with_defaults_only_has_an_extension(tmp_path: Path) -> None:
    src = "\n".join(line for line in POLICY.read_text().split("\n") if not line.startswith("permissions"))
    p = tmp_path / "s.toml"
    p.write_text(src)
    e = decode(compile_policy(read_policy(p))).ext
    assert e is not None and e.sched[2] == [0, 20] and not any(e.flags)


@pytest.mark.parametrize(("value", "words"), [
    ("{ weight = 0 }", "sched.weight must be a whole number from 1 to 65535"),
    ("{ weight = 65536 }", "sched.weight must be a whole number from 1 to 65535"),
    ("{ cap = 101 }", "sched.cap must be a whole number from 1 to 100 percent"),
    ("{ cap = 0 }", "sched.cap must be a whole number from 1 to 100"),
    ("{ cap = true }", "sched.cap must be a whole number"),
    ('{ weight = "512" }', "sched.weight must be a whole number"),
    ("{ capp = 20 }", "unknown sched key 'capp'"),
    ("{}", "sched sets nothing"),
    ("20", "sched must be a table"),
])
def test_bad_default_is_reported_at_its_line(tmp_path: Path, value: str, words: str, moat_cli: MoatCli) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(POLICY.read_text().replace("sched = { cap = 20 }", f"sched = {value}"))
    r = moat_cli("policy", "check", str(p))
    out = r.stdout + r.stderr
    assert r.returncode != 0 and words in out, out
    assert f"bad.toml:{SCHED_LINE}:" in out and "'capped20'" in out, out


@pytest.mark.parametrize(("attrs", "words"), [
    ('weight="0"', "sched weight='0' must be from 1 to 65535"),
    ('cap="150"', "sched cap='150' must be from 1 to 100"),
    ("", "moat:Sched sets nothing"),
])
def test_bad_default_in_xml(tmp_path: Path, attrs: str, words: str, moat_cli: MoatCli) -> None:
    x = to_xml(read_policy(POLICY)).replace('<moat:Sched cap="20"/>', f"<moat:Sched {attrs}/>")
    p = tmp_path / "bad.xml"
    p.write_text(x)
    r = moat_cli("policy", "check", str(p))
    out = r.stdout + r.stderr
    assert r.returncode != 0 and words in out, out
    assert "bad.xml:" in out and "'capped20'" in out, out


def test_malformed_sched_section(tmp_path: Path, agree) -> None:
    blob = compile_policy(read_policy(two_defaults(tmp_path)))
    s = sched_at(blob)
    e = decode(blob).ext
    assert e is not None
    rows, i = e.rows, e.sections - 4  # permissions, sched, then the three target sections
    nothing = blob
    for c in range(rows * 2):
        nothing = put32(nothing, s + 16 + 4 * c, 0)
    cell = s + 16 + 8 * 2  # row 2 (capped20): weight, then cap
    cases = {
        put32(blob, cell, 65536): (cell, f"ext.sched.weight[{2}]"),
        put32(blob, cell + 4, 101): (cell + 4, f"ext.sched.cap[{2}]"),
        put32(blob, s + 12, 3): (s + 12, f"ext.section.fields[{i}]"),
        put32(blob, s + 8, rows - 1): (s + 8, f"ext.section.rows[{i}]"),
        put32(blob, s + 4, 16): (s + 4, f"ext.section.len[{i}]"),
        put32(blob, s, 5): (s, f"ext.section.type[{i}]"),  # unknown type
        nothing: (s, f"ext.section.type[{i}]"),  # sets nothing
    }
    results = agree(list(cases))
    for (_b, want), r in zip(cases.items(), results, strict=True):
        assert "error" in r, want
        assert (r["error"]["offset"], r["error"]["field"]) == want, r


def test_dump_shows_defaults(tmp_path: Path, moat_cli: MoatCli) -> None:
    b = tmp_path / "s.bin"
    b.write_bytes(compile_policy(read_policy(two_defaults(tmp_path))))
    r = moat_cli("policy", "dump", str(b))
    assert r.returncode == 0, r.stderr
    assert "sched section" in r.stdout and "sched: weight=512 cap=20" in r.stdout and "sched: weight=64" in r.stdout


def test_labels_and_query_show_defaults_and_quotas(tmp_path: Path, moat_cli: MoatCli) -> None:
    """`labels` has a weight, cap and quota column for each label, the same from the source and
    from the blob with its map; `query` names both labels' defaults; --json carries them."""
    src = two_defaults(tmp_path)
    src.write_text(src.read_text() + "quota = { domains = 2 }\n")  # on plain, the last label
    b, m = tmp_path / "s.bin", tmp_path / "s.map"
    assert moat_cli("policy", "compile", str(src), "-o", str(b), "--map", str(m)).returncode == 0
    from_source = moat_cli("policy", "labels", str(src))
    from_blob = moat_cli("policy", "labels", str(b), "--map", str(m))
    assert from_source.returncode == 0 and from_source.stdout == from_blob.stdout, from_blob.stdout
    rows = {line.split()[2]: line.split()[3:] for line in from_source.stdout.splitlines()[1:]}
    assert from_source.stdout.splitlines()[0].split() == ["ssidref", "kind", "label", "weight", "cap", "quota"]
    assert rows["capped20"] == ["512", "20%", "-"]
    assert rows["plain"] == ["64", "-", "domains=2"]
    assert rows["system"] == ["(bootstrap)", "-", "-", "-"]
    data = {x["name"]: x for x in json.loads(moat_cli("policy", "labels", str(b), "--map", str(m), "--json").stdout)}
    assert data["capped20"]["sched"] == {"weight": 512, "cap": 20}
    assert data["plain"]["sched"] == {"weight": 64, "cap": None} and data["plain"]["quota"] == "domains=2"
    q = moat_cli("policy", "query", str(src), "capped20", "plain")
    assert q.returncode == 0, q.stderr
    assert "sched: capped20: weight=512 cap=20" in q.stdout and "sched: plain: weight=64" in q.stdout
    assert "quota: plain: domains=2" in q.stdout
    r = json.loads(moat_cli("policy", "query", str(b), "capped20", "system", "--map", str(m), "--json").stdout)
    assert r["a_sched"] == "weight=512 cap=20" and r["b_sched"] == "none"
