# SPDX-License-Identifier: MIT
"""`moat policy` end to end: compile, check, dump, query, labels, diff, and TOML line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CORPUS, EXAMPLES

from moat.commands.policy import main
from moat.policy import read_policy_bytes
from moat.policy.validate import check, fatal


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["policy", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_compile_dump_labels_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob, mp = tmp_path / "demo.bin", tmp_path / "demo.map"
    rc, out, _ = run(capsys, "compile", str(EXAMPLES / "demo.toml"), "-o", str(blob), "--map", str(mp))
    assert rc == 0 and "bytes" in out
    rc, out, _ = run(capsys, "dump", str(blob), "--map", str(mp))
    assert rc == 0 and "moat extension v2" in out and "customer-a" in out and "loadable: yes" in out
    rc, out, _ = run(capsys, "dump", str(blob), "--json")
    assert json.loads(out)["ext"]["rows"] == 8  # __UNLABELED__, system, customer-a/b/c, manager-a/b, service
    rc, out, _ = run(capsys, "labels", str(blob), "--map", str(mp))
    assert "0x00010001  vm        system (bootstrap)" in out
    rc, out, _ = run(capsys, "labels", str(EXAMPLES / "demo.xml"), "--json")
    assert {x["name"] for x in json.loads(out)} >= {"customer-a", "customer-b", "customer-c", "disk-a", "disk-c"}
    # A and C are rival banks (Chinese Wall); B competes with nobody but shares nothing with A.
    rc, out, _ = run(capsys, "query", str(EXAMPLES / "demo.toml"), "customer-a", "customer-c")
    assert "share: no" in out and "conflict: yes" in out and "bank-rivals" in out
    rc, out, _ = run(capsys, "query", str(EXAMPLES / "demo.xml"), "customer-a", "customer-b")
    assert "share: no" in out and "conflict: no" in out
    rc, out, _ = run(capsys, "query", str(EXAMPLES / "demo.toml"), "service", "customer-a", "--json")
    r = json.loads(out)
    assert r["share"] and r["shared_ste_types"] == ["customer-a"] and not r["conflict"]
    rc, out, _ = run(capsys, "query", str(blob), "system", "customer-b", "--map", str(mp), "--json")
    r = json.loads(out)
    assert r["share"] and r["shared_ste_types"] == ["customer-b"] and not r["conflict"]
    # Each customer's management domain may act on that customer's domains only.
    rc, out, _ = run(capsys, "query", str(blob), "manager-a", "customer-a", "--map", str(mp))
    assert "control: manager-a may destroy, pause, read_state domains labelled customer-a" in out
    rc, out, _ = run(capsys, "query", str(EXAMPLES / "demo.toml"), "manager-a", "customer-b")
    assert "control: manager-a may do nothing to domains labelled customer-b" in out
    rc, out, _ = run(capsys, "query", str(EXAMPLES / "demo.toml"), "manager-a", "system")
    assert "control: manager-a may do nothing to domains labelled system" in out
    rc, out, _ = run(capsys, "dump", str(blob), "--map", str(mp))
    assert "manager-a                destroy: customer-a; pause: customer-a; read_state: customer-a" in out
    rc, out, err = run(capsys, "query", str(blob), "nobody", "system")
    assert rc == 1 and "no label 'nobody'" in err


def test_diff(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "diff", str(EXAMPLES / "demo.toml"), str(EXAMPLES / "demo-update.toml"))
    assert rc == 0 and "sharing REVOKED" in out and "customer-a <-> service" in out and "disk-a <-> service" in out
    assert "customer-b <-> service" not in out  # B keeps its service
    rc, out, _ = run(
        capsys,
        "diff",
        str(CORPUS / "derived/xmtest09_1_good.xml"),
        str(CORPUS / "derived/xmtest09_2_conflict.xml"),
        "--json",
    )
    d = json.loads(out)
    assert d["conflicts_added"] == [["green", "red"]] and d["conflicts_removed"] == [["blue", "red"]]


def test_check_reports_file_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "check", str(CORPUS / "synthetic/s11_duplicate_vmlabel.xml"))
    assert rc == 1 and "s11_duplicate_vmlabel.xml:44: error: duplicate VM label 'red'" in err
    rc, _, err = run(
        capsys,
        "compile",
        str(CORPUS / "synthetic/s05_conflictsets_dupnames_unknown_types_unsorted.xml"),
        "-o",
        str(tmp_path / "x.bin"),
    )
    assert rc == 1 and not (tmp_path / "x.bin").exists()
    rc, _out, err = run(
        capsys,
        "compile",
        str(CORPUS / "synthetic/s05_conflictsets_dupnames_unknown_types_unsorted.xml"),
        "-o",
        str(tmp_path / "x.bin"),
        "--xen-compat",
    )
    assert rc == 0 and "warning: duplicate conflict set name 'B'" in err
    rc, _, err = run(capsys, "check", str(EXAMPLES / "demo-update.toml"), "--old", str(EXAMPLES / "demo-update.toml"))
    assert rc == 1 and "old policy has version 1.1" in err
    rc, out, err = run(capsys, "check", str(EXAMPLES / "demo-update.toml"), "--old", str(EXAMPLES / "demo.toml"))
    assert rc == 0 and "OK: policy 'moat-demo' 1.1" in out and "error" not in err


def test_not_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "dump", "/nonexistent.bin")
    assert rc == 1 and "No such file" in err


TOML_BAD = """\
[policy]
name = "t"
version = "1.0"
bootstrap = "sys"

[types]
ste = ["sys", "red", "red"]
chwall = ["sys"]

[[vm]]
name = "sys"
ste = ["sys"]
chwall = ["nope"]

[[resource]]
name = "r"
ste = ["red", "sys"]
colour = "blue"
"""


def test_toml_errors_have_lines() -> None:
    p = read_policy_bytes(TOML_BAD.encode(), "t.toml")
    got = {(d.line, d.message) for d in fatal(check(p), False)}
    assert (7, "duplicate STE type 'red'") in got
    assert (13, "VM label 'sys': unknown Chinese Wall type 'nope'") in got
    assert (16, "resource label 'r' has 2 STE types, it needs exactly one") in got
    assert (18, "[[resource]]: unknown key 'colour'") in got


def test_toml_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[policy]\nname = \n")
    rc, _, err = run(capsys, "check", str(f))
    assert rc == 1 and "bad.toml:2: error: TOML syntax" in err
