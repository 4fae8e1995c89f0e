# SPDX-License-Identifier: MIT
"""Permissions that name their target labels (issue 10 item 6; docs/policy-language.md): both
languages, the compiler's version-2 extension, the C and Python decoders, `query` and `diff`."""

from __future__ import annotations

import json

import pytest

from moat.commands import policy as policy_cmd
from moat.policy import compile_policy, decode, read_policy_bytes
from moat.policy.analysis import from_blob, from_policy, query
from moat.policy.validate import check, fatal
from moat.policy.writers import to_toml, to_xml
from tests.policy.conftest import EXAMPLES

TOML = """\
[policy]
name = "targets"
version = "1.0"
bootstrap = "system"

[types]
ste = ["sys", "a", "b"]
chwall = ["any"]

[[vm]]
name = "system"
ste = ["sys", "a", "b"]
chwall = ["any"]
permissions = { create = ["a", "b", "manager-a"], destroy = true, pause = true, read_state = true, \
load_policy = true, foreign_evtchn = true, foreign_gnttab = ["a"] }

[[vm]]
name = "a"
ste = ["a"]
chwall = ["any"]

[[vm]]
name = "b"
ste = ["b"]
chwall = ["any"]

[[vm]]
name = "manager-a"
ste = ["a"]
chwall = ["any"]
permissions = { destroy = ["a"], pause = "a", read_state = ["a", "manager-a"] }
"""
# rows: __UNLABELED__ 0, system 1, a 2, b 3, manager-a 4


def policy(text: str = TOML, name: str = "t.toml"):
    p = read_policy_bytes(text.encode(), name)
    assert not fatal(check(p), False), [str(d) for d in check(p)]
    return p


def test_targets_compile_to_rows(agree) -> None:
    blob = compile_policy(policy())
    (c,) = agree([blob])  # the C parser reads the same rows
    t = c["ext"]["targets"]
    assert c["ext"]["version"] == 2
    assert t["destroy"][1] == [0, 1, 2, 3, 4] and t["destroy"][4] == [2]
    assert t["pause"][4] == [2] and t["read_state"][4] == [2, 4]
    assert t["create"][1] == [2, 3, 4] and t["foreign_gnttab"][1] == [2] and t["foreign_evtchn"][1] == [0, 1, 2, 3, 4]
    assert t["create"][4] == [] and t["foreign_evtchn"][4] == []
    assert c["ext"]["flags"][4] == 0b10110  # destroy, pause, read_state
    # five target sections besides PERMISSIONS: create, destroy, pause, read_state, both foreign
    assert c["ext"]["sections"] == 7


def test_sections_only_for_permissions_held() -> None:
    text = TOML.replace(", foreign_evtchn = true, foreign_gnttab = [\"a\"]", "")
    e = decode(compile_policy(policy(text))).ext
    assert e is not None and e.sections == 5
    assert not any(e.targets["foreign_evtchn"]) and not any(e.targets["foreign_gnttab"])


def test_xml_and_toml_agree_and_convert_back() -> None:
    p = policy()
    x = read_policy_bytes(to_xml(p).encode(), "t.xml")
    assert "<moat:DestroyDomain/>" in to_xml(p)
    assert "<moat:ForeignGrantTables>" in to_xml(p) and "<moat:ForeignEventChannels/>" in to_xml(p)
    a, b = compile_policy(p), compile_policy(x)
    assert a[:40] == b[:40] and a[60:] == b[60:]
    t = read_policy_bytes(to_toml(p).encode(), "again.toml")
    assert compile_policy(t)[60:] == a[60:]
    assert 'destroy = ["a"]' in to_toml(p) and "destroy = true" in to_toml(p)


def test_blob_and_source_views_agree() -> None:
    p = policy()
    v = from_policy(p)
    assert v.labels["manager-a"].targets["destroy"] == {"a"}
    assert v.labels["system"].targets["destroy"] == {"__UNLABELED__", "system", "a", "b", "manager-a"}
    num_names = {lab.name: lab for lab in from_blob(decode(compile_policy(p)), None).labels.values()}
    assert num_names["row4"].targets["destroy"] == {"row2"}


def test_query_says_who_controls_whom() -> None:
    v = from_policy(policy())
    r = query(v, "manager-a", "a")
    assert r["a_may_on_b"] == ["destroy", "pause", "read_state"] and r["b_may_on_a"] == []
    assert query(v, "manager-a", "b")["a_may_on_b"] == []
    assert query(v, "manager-a", "system")["a_may_on_b"] == []


def test_query_and_diff_cli(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.toml"
    new = tmp_path / "new.toml"
    old.write_text(TOML)
    new.write_text(TOML.replace('destroy = ["a"], pause = "a"', 'destroy = ["a", "b"]'))
    assert policy_cmd.main(["policy", "query", str(old), "manager-a", "b"]) == 0
    out = capsys.readouterr().out
    assert "control: manager-a may do nothing to domains labelled b" in out
    assert policy_cmd.main(["policy", "query", str(old), "manager-a", "a"]) == 0
    assert "control: manager-a may destroy, pause, read_state domains labelled a" in capsys.readouterr().out
    assert policy_cmd.main(["policy", "diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "permissions of manager-a: -pause -pause:a +destroy:b" in out
    assert policy_cmd.main(["policy", "diff", str(old), str(new), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    (pc,) = d["permissions_changed"]
    assert pc["targets_gained"] == {"destroy": ["b"]} and pc["targets_lost"] == {"pause": ["a"]}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('destroy = ["a"]', "destroy = []", "permissions.destroy lists no label"),
        ('destroy = ["a"]', 'destroy = ["ghost"]', "may destroy unknown label 'ghost'"),
        ('read_state = ["a", "manager-a"]', 'read_state = ["zzz"]', "may read the state of unknown label 'zzz'"),
        ('destroy = ["a"]', "destroy = 3", "permission 'destroy' must be true, false or a list of labels"),
        ('create = ["a", "b", "manager-a"]', "create = true", "permission 'create' must be a list of labels"),
        ("load_policy = true", 'load_policy = ["a"]', "permission 'load_policy' must be true or false"),
        ('destroy = ["a"]', 'destroy = ["a"], fly = true', "unknown permission 'fly'"),
    ],
)
def test_toml_target_errors(old: str, new: str, message: str) -> None:
    assert old in TOML
    p = read_policy_bytes(TOML.replace(old, new, 1).encode(), "t.toml")
    got = [str(d) for d in check(p)]
    assert any(message in g for g in got), got


def test_false_means_not_held() -> None:
    p = policy(TOML.replace("destroy = true, ", "destroy = false, "))
    assert "destroy" not in from_policy(p).labels["system"].targets


def test_xml_target_errors() -> None:
    xml = to_xml(policy())
    bad = xml.replace("<moat:ForeignGrantTables>", "<moat:ForeignGrantTables><moat:Fly/>", 1)
    got = [str(d) for d in check(read_policy_bytes(bad.encode(), "t.xml"))]
    # The schema (tools/moat/data/schema/moat-permissions.xsd) says what is wrong, at its line.
    line = bad[:bad.index("<moat:Fly/>")].count("\n") + 1
    assert f"t.xml:{line}: error: unknown element <moat:Fly>; expected <moat:Label>" in got, got
    twice = xml.replace("<moat:LoadPolicy/>", "<moat:LoadPolicy/><moat:LoadPolicy/>", 1)
    got = [str(d) for d in check(read_policy_bytes(twice.encode(), "t.xml"))]
    assert any("element <moat:LoadPolicy> is not allowed here" in g for g in got), got


def test_demo_policy_managers_are_confined() -> None:
    """The demo's management domains (docs/examples/policies/demo.toml) act on their customer only."""
    for name in ("demo.toml", "demo.xml", "demo-update.toml"):
        v = from_policy(policy((EXAMPLES / name).read_text(), name))
        for mgr, customer in (("manager-a", "customer-a"), ("manager-b", "customer-b")):
            lab = v.labels[mgr]
            assert lab.targets == {"destroy": {customer}, "pause": {customer}, "read_state": {customer}}, name
            assert "load_policy" not in lab.perms
