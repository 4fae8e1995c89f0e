# SPDX-License-Identifier: MIT
"""`moat policy` end to end: compile, check, dump, query, labels, diff, and TOML line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moat.cli import main
from moat.policy import read_policy_bytes
from moat.policy.validate import check, fatal
from tests.policy.conftest import CORPUS, EXAMPLES


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
    # __UNLABELED__, system, customer-a/b/c, manager-a/b, service, switch, tpm-agent
    assert json.loads(out)["ext"]["rows"] == 10
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
    assert rc == 3 and "no label 'nobody'" in err
    rc, out, err = run(capsys, "query", str(EXAMPLES / "demo.toml"), "custmer-a", "system")
    assert rc == 3 and "no label 'custmer-a'" in err and "did you mean 'customer-a'?" in err


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
    assert rc == 3 and "No such file" in err


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
    assert (18, "[[resource]]: unknown key 'colour' (known: name, ste)") in got


def test_toml_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[policy]\nname = \n")
    rc, _, err = run(capsys, "check", str(f))
    assert rc == 1 and "bad.toml:2: error: TOML syntax" in err


# --- outputs: checked first, written whole or not at all, never over an input -------------------


def test_compile_refuses_to_overwrite_its_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "demo.toml"
    src.write_bytes((EXAMPLES / "demo.toml").read_bytes())
    rc, _, err = run(capsys, "compile", str(src), "-o", str(src))
    assert rc == 3 and "that is the input" in err
    assert src.read_bytes() == (EXAMPLES / "demo.toml").read_bytes()


def test_compile_writes_nothing_when_the_map_cannot_be_written(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.bin"
    rc, _, err = run(capsys, "compile", str(EXAMPLES / "demo.toml"), "-o", str(out), "--map",
                     str(tmp_path / "nowhere" / "demo.map"))
    assert rc == 3 and "--map" in err and not out.exists()
    rc, _, err = run(capsys, "compile", str(EXAMPLES / "demo.toml"), "-o", str(out), "--map", str(tmp_path))
    assert rc == 3 and "is a directory" in err and not out.exists()


def test_outputs_default_under_build(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOAT_ROOT", str(tmp_path))
    src = tmp_path / "src" / "mine.toml"
    src.parent.mkdir()
    src.write_bytes((EXAMPLES / "demo.toml").read_bytes())
    rc, _, _ = run(capsys, "compile", str(src))
    assert rc == 0 and (tmp_path / "build" / "policies" / "mine.bin").is_file()
    assert list(src.parent.iterdir()) == [src]


@pytest.mark.parametrize("bad", ["{tmp}", "/nonexistent-dir/x.xml"])
def test_convert_output_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    rc, _, err = run(capsys, "convert", str(EXAMPLES / "demo.toml"), "--to", "xml", "-o", bad.format(tmp=tmp_path))
    assert rc == 3 and "-o " in err


def test_write_files_is_all_or_nothing(tmp_path: Path) -> None:
    from moat.errors import UserError
    from moat.outputs import write_files

    good = tmp_path / "a.bin"
    with pytest.raises(UserError, match="nothing was written"):
        write_files([(good, b"a"), (tmp_path / "missing" / "b.map", b"b")])
    assert list(tmp_path.iterdir()) == []


# --- what each file is, and hints -----------------------------------------------------------------


def test_wrong_kinds_of_file_say_what_they_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "demo.bin"
    assert run(capsys, "compile", str(EXAMPLES / "demo.toml"), "-o", str(blob))[0] == 0
    rc, _, err = run(capsys, "dump", str(EXAMPLES / "demo.toml"))
    assert rc == 3 and "is a policy source (TOML), not a binary" in err
    rc, _, err = run(capsys, "check", str(blob))
    assert rc == 3 and "is a compiled policy (binary)" in err and "moat policy dump" in err
    rc, _, err = run(capsys, "diff", str(blob), str(EXAMPLES / "demo-update.toml"))
    assert rc == 3 and "give the binary's map with --old-map" in err


def test_a_map_of_another_policy_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob, other_map = tmp_path / "demo.bin", tmp_path / "other.map"
    assert run(capsys, "compile", str(EXAMPLES / "demo.toml"), "-o", str(blob))[0] == 0
    other = CORPUS / "derived" / "xmtest09_1_good.xml"
    assert run(capsys, "compile", str(other), "-o", str(tmp_path / "o.bin"), "--map", str(other_map))[0] == 0
    rc, _, err = run(capsys, "dump", str(blob), "--map", str(other_map))
    assert rc == 3 and "is not the map of" in err


def test_xen_compat_hint(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "check", str(CORPUS / "synthetic/s05_conflictsets_dupnames_unknown_types_unsorted.xml"))
    assert rc == 1 and "--xen-compat turns" in err
    rc, _, err = run(capsys, "check", str(CORPUS / "synthetic/s11_duplicate_vmlabel.xml"))
    assert rc == 1 and "--xen-compat" not in err  # Xen refused this one too: no such hint


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "check", str(EXAMPLES / "demo.toml"), "--json")
    data = json.loads(out)
    assert rc == 0 and data["ok"] and data["errors"] == [] and data["policy"]["vm_labels"] == 9
    assert data["loadable_at_run_time"] is True and data["blob_size"] > 0
    rc, out, _ = run(capsys, "check", str(CORPUS / "synthetic/s11_duplicate_vmlabel.xml"), "--json")
    data = json.loads(out)
    assert rc == 1 and not data["ok"]
    assert {"line": 44, "message": "duplicate VM label 'red'"}.items() <= data["errors"][0].items()


def test_large_blob_warns_about_the_run_time_load_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from moat.policy.generate import generate
    from moat.policy.writers import to_toml

    src = tmp_path / "big.toml"
    src.write_text(to_toml(generate(ste=300, sets=10, labels=4000)))
    rc, _, err = run(capsys, "check", str(src))
    assert rc == 0 and "a domain cannot load it at run time" in err


TOML_WORDS = """\
[policy]
name = "t"
version = "1.1"
bootstrap = "sys"

[types]
ste = ["sys", "red"]
chwall = ["sys"]

[[vm]]
name = "sys"
ste = ["sys", "redd"]
chwall = ["sys"]
"""


def test_toml_errors_speak_toml_and_suggest(capsys: pytest.CaptureFixture[str]) -> None:
    p = read_policy_bytes(TOML_WORDS.replace('bootstrap = "sys"\n', "").encode(), "t.toml")
    got = [d.message for d in fatal(check(p, ("t", (1, 0))), False)]
    assert "VM label 'sys': unknown STE type 'redd' (did you mean 'red'?)" in got
    assert "missing bootstrap label ([policy] bootstrap = ...)" in got
    assert any("needs [policy] from = { name = ..., version = ... }" in g for g in got)
    assert not any("<" in g or "SubjectLabels" in g or "FromPolicy" in g for g in got), got


def test_convert_keeps_the_licence_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "convert", str(CORPUS / "derived/xmtest09_1_good.xml"), "--to", "toml")
    assert rc == 0 and "SPDX" not in out  # Xen's policies carry none: moat must not stamp MIT on them
    gpl = tmp_path / "gpl.toml"
    gpl.write_text("# SPDX-License-Identifier: GPL-2.0-only\n" + (EXAMPLES / "demo.toml").read_text().split("\n", 1)[1])
    rc, out, _ = run(capsys, "convert", str(gpl), "--to", "xml")
    assert rc == 0 and "<!-- SPDX-License-Identifier: GPL-2.0-only -->" in out
    rc, out, _ = run(capsys, "convert", str(EXAMPLES / "demo.toml"), "--to", "toml")
    assert out.startswith("# SPDX-License-Identifier: MIT\n")
