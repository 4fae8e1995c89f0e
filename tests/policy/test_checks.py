# SPDX-License-Identifier: MIT
"""One test per check of `moat policy check`: each mutation of a valid policy gives its message at its line."""

from __future__ import annotations

import pytest

from moat.policy import read_policy_bytes
from moat.policy.model import MAX_CONFLICT_SETS, MAX_TYPES
from moat.policy.validate import check, fatal

BASE = """\
<?xml version="1.0"?>
<SecurityPolicyDefinition xmlns="http://www.ibm.com" xmlns:moat="urn:moat:policy:permissions:1">
<PolicyHeader>
  <PolicyName>base</PolicyName>
  <Version>1.1</Version>
  <FromPolicy><PolicyName>base</PolicyName><Version>1.0</Version></FromPolicy>
</PolicyHeader>
<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>
  <Type>sys</Type>
  <Type>red</Type>
  <Type>blue</Type>
</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>
<ChineseWall><ChineseWallTypes>
  <Type>sys</Type>
  <Type>red</Type>
  <Type>blue</Type>
</ChineseWallTypes>
<ConflictSets>
  <Conflict name="cs">
    <Type>red</Type>
    <Type>blue</Type>
  </Conflict>
</ConflictSets></ChineseWall>
<SecurityLabelTemplate>
<SubjectLabels bootstrap="sys">
  <VirtualMachineLabel>
    <Name>sys</Name>
    <SimpleTypeEnforcementTypes><Type>sys</Type><Type>red</Type><Type>blue</Type></SimpleTypeEnforcementTypes>
    <ChineseWallTypes><Type>sys</Type></ChineseWallTypes>
    <moat:Permissions><moat:CreateDomain><moat:Label>red</moat:Label></moat:CreateDomain></moat:Permissions>
  </VirtualMachineLabel>
  <VirtualMachineLabel>
    <Name>red</Name>
    <SimpleTypeEnforcementTypes><Type>red</Type></SimpleTypeEnforcementTypes>
    <ChineseWallTypes><Type>red</Type></ChineseWallTypes>
  </VirtualMachineLabel>
  <VirtualMachineLabel>
    <Name>blue</Name>
    <SimpleTypeEnforcementTypes><Type>blue</Type></SimpleTypeEnforcementTypes>
    <ChineseWallTypes><Type>blue</Type></ChineseWallTypes>
  </VirtualMachineLabel>
</SubjectLabels>
<ObjectLabels>
  <ResourceLabel>
    <Name>disk</Name>
    <SimpleTypeEnforcementTypes><Type>red</Type></SimpleTypeEnforcementTypes>
  </ResourceLabel>
</ObjectLabels>
</SecurityLabelTemplate>
</SecurityPolicyDefinition>
"""


def diags(text: str, old: tuple[str, tuple[int, int]] | None = None, compat: bool = False) -> list[str]:
    p = read_policy_bytes(text.encode(), "t.xml")
    return [f"{d.line}: {d.message}" for d in fatal(check(p, old), compat)]


def line_of(text: str, needle: str, n: int = 1) -> int:
    idx = -1
    for _ in range(n):
        idx = text.index(needle, idx + 1)
    return text[:idx].count("\n") + 1


def test_base_is_clean() -> None:
    assert diags(BASE) == []
    assert check(read_policy_bytes(BASE.encode(), "t.xml")) == []


CASES = [
    # (name, old, new, occurrence of `new` that carries the error, expected message part, strict-only)
    (
        "duplicate STE type",
        "<Type>blue</Type>\n</SimpleTypeEnforcementTypes>",
        "<Type>blue</Type>\n  <Type>red</Type>\n</SimpleTypeEnforcementTypes>",
        "  <Type>red</Type>\n</Simple",
        "duplicate STE type 'red'",
        False,
    ),
    (
        "duplicate CHWALL type",
        "<Type>blue</Type>\n</ChineseWallTypes>",
        "<Type>blue</Type>\n  <Type>sys</Type>\n</ChineseWallTypes>",
        "  <Type>sys</Type>\n</Chinese",
        "duplicate Chinese Wall type 'sys'",
        False,
    ),
    (
        "duplicate VM label",
        "<Name>blue</Name>",
        "<Name>red</Name>",
        "<Name>red</Name>\n    <SimpleTypeEnforcementTypes><Type>blue",
        "duplicate VM label 'red'",
        False,
    ),
    (
        "duplicate resource label",
        "</ResourceLabel>\n</ObjectLabels>",
        "</ResourceLabel>\n  <ResourceLabel><Name>disk</Name><SimpleTypeEnforcementTypes><Type>red</Type>"
        "</SimpleTypeEnforcementTypes></ResourceLabel>\n</ObjectLabels>",
        "<ResourceLabel><Name>disk",
        "duplicate resource label 'disk'",
        False,
    ),
    (
        "duplicate conflict set",
        "</Conflict>\n</ConflictSets>",
        '</Conflict>\n  <Conflict name="cs"><Type>red</Type><Type>blue</Type></Conflict>\n</ConflictSets>',
        '<Conflict name="cs"><Type>',
        "duplicate conflict set name 'cs'",
        True,
    ),
    (
        "unknown STE type in label",
        "<Type>blue</Type></SimpleTypeEnforcementTypes>\n    <ChineseWallTypes><Type>blue",
        "<Type>green</Type></SimpleTypeEnforcementTypes>\n    <ChineseWallTypes><Type>blue",
        "<Type>green</Type>",
        "unknown STE type 'green'",
        False,
    ),
    (
        "unknown CHWALL type in label",
        "<ChineseWallTypes><Type>blue</Type></ChineseWallTypes>",
        "<ChineseWallTypes><Type>pink</Type></ChineseWallTypes>",
        "<Type>pink</Type>",
        "unknown Chinese Wall type 'pink'",
        False,
    ),
    (
        "unknown type in conflict set",
        "    <Type>blue</Type>\n  </Conflict>",
        "    <Type>blue</Type>\n    <Type>nope</Type>\n  </Conflict>",
        "<Type>nope</Type>",
        "conflict set 'cs': unknown Chinese Wall type 'nope'",
        True,
    ),
    (
        "unknown type in resource label",
        "<Name>disk</Name>\n    <SimpleTypeEnforcementTypes><Type>red",
        "<Name>disk</Name>\n    <SimpleTypeEnforcementTypes><Type>zzz",
        "<Type>zzz",
        "unknown STE type 'zzz'",
        False,
    ),
    ("missing bootstrap", ' bootstrap="sys"', "", "<SubjectLabels>", "missing bootstrap label", False),
    (
        "unknown bootstrap",
        'bootstrap="sys"',
        'bootstrap="nobody"',
        "<SubjectLabels",
        "'nobody' is not a VM label",
        False,
    ),
    (
        "two types of one conflict set",
        "<ChineseWallTypes><Type>red</Type></ChineseWallTypes>",
        "<ChineseWallTypes><Type>red</Type><Type>blue</Type></ChineseWallTypes>",
        "<Name>red</Name>",
        "holds 2 types of conflict set 'cs'",
        True,
    ),
    (
        "empty conflict set",
        "    <Type>red</Type>\n    <Type>blue</Type>\n  </Conflict>",
        "  </Conflict>",
        '<Conflict name="cs">',
        "conflict set 'cs' is empty",
        True,
    ),
    (
        "conflict set without name",
        '<Conflict name="cs">',
        "<Conflict>",
        "<Conflict>",
        "conflict set without a name",
        False,
    ),
    ("colon in label name", "<Name>blue</Name>", "<Name>blue:x</Name>", "<Name>blue:x", "contains ':'", True),
    (
        "colon in policy name",
        "<PolicyName>base</PolicyName>\n",
        "<PolicyName>ba:se</PolicyName>\n",
        "<PolicyName>ba:se",
        "contains ':'",
        True,
    ),
    ("non-printable name", "<Name>blue</Name>", "<Name>bl&#9;ue</Name>", "<Name>bl", "non-printable", True),
    (
        "resource without STE type",
        "<SimpleTypeEnforcementTypes><Type>red</Type></SimpleTypeEnforcementTypes>\n  </ResourceLabel>",
        "\n  </ResourceLabel>",
        "<Name>disk",
        "has no STE type",
        True,
    ),
    (
        "resource with two STE types",
        "<SimpleTypeEnforcementTypes><Type>red</Type></SimpleTypeEnforcementTypes>\n  </ResourceLabel>",
        "<SimpleTypeEnforcementTypes><Type>red</Type><Type>blue</Type>"
        "</SimpleTypeEnforcementTypes>\n  </ResourceLabel>",
        "<Name>disk",
        "has 2 STE types",
        True,
    ),
    (
        "version not increasing",
        "<Version>1.1</Version>",
        "<Version>0.9</Version>",
        "<FromPolicy>",
        "must be greater than the FromPolicy version",
        False,
    ),
    ("bad version", "<Version>1.1</Version>", "<Version>one</Version>", "<Version>one", "not of the form", False),
    (
        "unknown create target",
        "<moat:Label>red</moat:Label>",
        "<moat:Label>ghost</moat:Label>",
        "ghost",
        "may create unknown label 'ghost'",
        False,
    ),
    (
        "unknown permission",
        "<moat:CreateDomain>",
        "<moat:Fly/><moat:CreateDomain>",
        "<moat:Fly/>",
        "unknown element <moat:Fly>",
        False,
    ),
    # The schema: whatever it does not know is an error where it is, never a rule dropped.
    (
        "misspelt ConflictSets",
        "<ConflictSets>\n  <Conflict name=\"cs\">\n    <Type>red</Type>\n    <Type>blue</Type>\n  </Conflict>\n"
        "</ConflictSets>",
        "<ConflictSet>\n  <Conflict name=\"cs\">\n    <Type>red</Type>\n    <Type>blue</Type>\n  </Conflict>\n"
        "</ConflictSet>",
        "<ConflictSet>",
        "unknown element <ConflictSet> (did you mean <ConflictSets>?)",
        False,
    ),
    (
        "misspelt Conflict",
        '<Conflict name="cs">\n    <Type>red</Type>\n    <Type>blue</Type>\n  </Conflict>',
        '<Conflct name="cs">\n    <Type>red</Type>\n    <Type>blue</Type>\n  </Conflct>',
        "<Conflct",
        "unknown element <Conflct> (did you mean <Conflict>?)",
        False,
    ),
    (
        "wrong permissions namespace",
        'xmlns:moat="urn:moat:policy:permissions:1"',
        'xmlns:moat="urn:moat:policy:permission:1"',
        "<moat:Permissions>",
        "unknown namespace 'urn:moat:policy:permission:1'",
        False,
    ),
    (
        "unknown attribute",
        '<Conflict name="cs">',
        '<Conflict name="cs" colour="red">',
        '<Conflict name="cs" colour',
        "<Conflict>: unknown attribute 'colour'",
        False,
    ),
    (
        "root without namespace",
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com"',
        "<SecurityPolicyDefinition",
        "<SecurityPolicyDefinition",
        "has no namespace",
        False,
    ),
    (
        "a second ChineseWall",
        "</ConflictSets></ChineseWall>",
        "</ConflictSets></ChineseWall>\n<ChineseWall><ChineseWallTypes><Type>red</Type></ChineseWallTypes></ChineseWall>",
        "<ChineseWall><ChineseWallTypes><Type>red",
        "element <ChineseWall> is not allowed here",
        False,
    ),
    (
        "text among elements",
        "<Name>red</Name>",
        "<Name>red</Name> stray text",
        "<VirtualMachineLabel>\n    <Name>red</Name> stray",
        "<VirtualMachineLabel>: Character content other than whitespace is not allowed",
        False,
    ),
    (
        "element inside a Type",
        "<Type>red</Type>\n  <Type>blue</Type>\n</ChineseWallTypes>",
        "<Type>red<b/></Type>\n  <Type>blue</Type>\n</ChineseWallTypes>",
        "<Type>red<b/>",
        "<Type>: Element content is not allowed",
        False,
    ),
    (
        "no chwall types",
        "<ChineseWall><ChineseWallTypes>\n  <Type>sys</Type>\n  <Type>red</Type>\n  <Type>blue</Type>\n"
        "</ChineseWallTypes>",
        "<ChineseWall><ChineseWallTypes>\n</ChineseWallTypes>",
        "<PolicyName>",
        "no Chinese Wall types",
        True,
    ),
    ("missing version", "  <Version>1.1</Version>\n", "", "<PolicyHeader>", "missing <PolicyHeader>/<Version>", False),
    ("non-ASCII", "<Name>blue</Name>", "<Name>bl\u00fce</Name>", "<Name>bl", "non-ASCII", False),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_check(case: tuple[str, str, str, str, str, bool]) -> None:
    _, old, new, where, msg, strict_only = case
    assert old in BASE, old
    text = BASE.replace(old, new, 1)
    got = diags(text)
    line = line_of(text, where)
    assert any(g.startswith(f"{line}: ") and msg in g for g in got), (line, got)
    if strict_only:
        assert not any(msg in g for g in diags(text, compat=True)), "Xen accepted this; --xen-compat must too"


def test_update_against_old_policy() -> None:
    assert diags(BASE, old=("base", (1, 0))) == []
    got = diags(BASE, old=("other", (1, 0)))
    assert any("FromPolicy names 'base' but the old policy is 'other'" in g for g in got)
    got = diags(BASE, old=("base", (1, 1)))
    assert any("must be greater than the old policy's 1.1" in g for g in got)


def test_bounds() -> None:
    types = "".join(f"<Type>t{i}</Type>" for i in range(MAX_TYPES + 1))
    text = BASE.replace(
        "<Type>sys</Type>\n  <Type>red</Type>\n  <Type>blue</Type>\n</SimpleTypeEnforcementTypes>",
        f"<Type>sys</Type>\n  <Type>red</Type>\n  <Type>blue</Type>{types}</SimpleTypeEnforcementTypes>",
    )
    assert any(f"at most {MAX_TYPES}" in g for g in diags(text))
    sets = "".join(
        f'<Conflict name="c{i}"><Type>red</Type><Type>blue</Type></Conflict>' for i in range(MAX_CONFLICT_SETS)
    )
    text = BASE.replace("</ConflictSets>", sets + "</ConflictSets>")
    assert any(f"at most {MAX_CONFLICT_SETS}" in g for g in diags(text))


def test_all_errors_at_once() -> None:
    text = BASE.replace("<Name>blue</Name>", "<Name>red</Name>").replace('bootstrap="sys"', 'bootstrap="x"')
    got = diags(text)
    assert len(got) >= 2
    assert [int(g.split(":")[0]) for g in got] == sorted(int(g.split(":")[0]) for g in got)


def test_xml_syntax_error_has_line() -> None:
    from moat.policy import PolicyReadError

    with pytest.raises(PolicyReadError) as e:
        read_policy_bytes(BASE.replace("</PolicyHeader>", "</PolicyHeaderX>").encode(), "t.xml")
    assert e.value.diagnostics[0].line == line_of(BASE, "</PolicyHeader>")
    assert "tag mismatch" in e.value.diagnostics[0].message
