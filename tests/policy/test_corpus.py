# SPDX-License-Identifier: MIT
"""The real Xen ACM corpus: outcomes, byte identity with Xen 4.1's compiler, decoded models."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import pytest

from moat.policy import PolicyReadError, compile_policy, decode, read_policy
from moat.policy.analysis import from_blob
from moat.policy.mapfile import read_map, write_map
from moat.policy.model import UNLABELED, numbering
from moat.policy.validate import check, fatal
from tests.policy.conftest import CORPUS

EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
XEN_BINARIES = sorted(k for k, v in EXPECTED.items() if v["binary_sha256_prefix"])


def outcome(path: str) -> tuple[str, str | None]:
    try:
        p = read_policy(CORPUS / path)
    except PolicyReadError as e:
        return "reject", e.diagnostics[0].message
    d = check(p)
    strict, compat = fatal(d, False), fatal(d, True)
    if not strict:
        return "compile", None
    if not compat:
        return "compat", strict[0].message
    return "reject", compat[0].message


def test_every_corpus_file_is_listed() -> None:
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.xml")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_outcome(path: str) -> None:
    """Each file compiles, compiles only with --xen-compat, or is rejected with its reason."""
    exp = EXPECTED[path]
    assert outcome(path) == (exp["ours"], exp["reason"])
    if exp["ours"] == "reject":
        # we never refuse what Xen 4.1 compiled, except for problems Xen itself crashed on
        assert exp["binary_sha256_prefix"] is None or "libxml2: rejected" in exp["xen"]


@pytest.mark.parametrize("path", XEN_BINARIES)
def test_byte_identical_to_xen(path: str, agree) -> None:
    exp = EXPECTED[path]
    p = read_policy(CORPUS / path)
    assert not fatal(check(p), xen_compat=True)
    blob = compile_policy(p)
    assert len(blob) == exp["binary_size"]
    assert hashlib.sha256(blob).hexdigest().startswith(exp["binary_sha256_prefix"])
    assert compile_policy(read_policy(CORPUS / path)) == blob
    agree([blob])


def test_xml_hash_of_the_documented_example() -> None:
    p = read_policy(CORPUS / "3.1.0-branched-tools_security_policies_example_test-security_policy.xml")
    assert p.xml_hash.hex() == "30864c37012926f251a4df0dba881b4cbcc68e76"
    assert compile_policy(p)[40:60] == p.xml_hash


@pytest.mark.parametrize("path", [k for k in XEN_BINARIES if EXPECTED[k]["model"]])
def test_dump_matches_expected_model(path: str) -> None:
    """Decode the compiled blob, name it with the map, and compare with the recorded model."""
    model = EXPECTED[path]["model"]
    p = read_policy(CORPUS / path)
    num = numbering(p)
    blob = compile_policy(p, num)
    b = decode(blob)
    m = read_map(write_map(p, num, "policy.xml", "policy.bin"))
    assert b.ste.types == model["ste_types"]
    assert b.chwall.types == model["chwall_types"]
    v = from_blob(b, m)
    chw = set(m.chwall_types.values())
    want_sets = Counter(frozenset(t for t in types if t in chw) for _, types in model["conflict_sets"])
    assert Counter(s for _, s in v.conflict_sets) == want_sets
    vm = {lab.name for lab in v.labels.values() if lab.kind == "vm"}
    assert vm - {UNLABELED} == set(model["vm_labels"]) - {UNLABELED}
    res = {lab.name.removeprefix("resource:") for lab in v.labels.values() if lab.kind == "resource"}
    # Xen drops resource labels without STE types and one __UNLABELED__ resource label
    want_res = {r.name for r in p.resource_labels if r.ste is not None} - {UNLABELED}
    assert res == want_res <= set(model["resource_labels"])
    assert v.bootstrap == model["bootstrap"]
    # every VM row holds exactly the label's known types
    for lab in p.vm_labels:
        got = v.labels[lab.name]
        assert got.ste == {t.name for t in lab.ste} & set(num.ste_types)
        assert got.chwall == {t.name for t in lab.chwall} & chw
    assert b.loadable == (model["chwall_types"] > 0)
