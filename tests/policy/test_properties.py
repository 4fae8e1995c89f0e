# SPDX-License-Identifier: MIT
"""Property tests over random valid models (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moat.policy import compile_policy, decode, read_policy_bytes
from moat.policy.analysis import from_blob, from_policy
from moat.policy.mapfile import read_map, write_map
from moat.policy.model import (
    TARGETED,
    ConflictSet,
    Named,
    Permissions,
    Policy,
    ResourceLabel,
    Targets,
    VmLabel,
    numbering,
)
from moat.policy.validate import check, fatal
from moat.policy.writers import to_toml, to_xml

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-_.", min_size=1, max_size=8)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    ste = draw(st.lists(NAME, min_size=1, max_size=7, unique=True))
    chw = draw(st.lists(NAME, min_size=1, max_size=6, unique=True))
    labels = draw(st.lists(NAME, min_size=1, max_size=7, unique=True))
    p = Policy(
        file="gen",
        source_kind="xml",
        name=draw(NAME),
        version=f"{draw(st.integers(0, 999))}.{draw(st.integers(0, 99))}",
    )
    p.ste_types = [Named(t, 1) for t in ste]
    p.chwall_types = [Named(t, 1) for t in chw]
    for i in range(draw(st.integers(0, 3))):
        types = draw(st.lists(st.sampled_from(chw), min_size=1, max_size=len(chw), unique=True))
        p.conflict_sets.append(ConflictSet(f"cs{i}", 1, [Named(t, 1) for t in types]))
    for name in labels:
        # at most one type of each conflict set, so the label never conflicts with itself
        mine: list[str] = []
        for t in draw(st.lists(st.sampled_from(chw), max_size=3, unique=True)):
            if not any(
                t in {x.name for x in c.types} and any(m in {x.name for x in c.types} for m in mine)
                for c in p.conflict_sets
            ):
                mine.append(t)
        v = VmLabel(
            name,
            1,
            [Named(t, 1) for t in draw(st.lists(st.sampled_from(ste), max_size=4, unique=True))],
            [Named(t, 1) for t in mine],
        )
        if draw(st.booleans()) and draw(st.booleans()):
            pm = Permissions(1, load_policy=draw(st.booleans()))
            for key in TARGETED:  # not held, over every label, or over some labels
                how = draw(st.sampled_from(["none", "all", "some"] if key != "create" else ["none", "some"]))
                if how == "all":
                    setattr(pm, key, Targets(1, everyone=True))
                elif how == "some":
                    names = draw(st.lists(st.sampled_from(labels), min_size=1, max_size=3, unique=True))
                    setattr(pm, key, Targets(1, labels=[Named(t, 1) for t in names]))
            v.permissions = pm
        p.vm_labels.append(v)
    p.bootstrap = draw(st.sampled_from(labels))
    for name in draw(st.lists(NAME, max_size=4, unique=True)):
        p.resource_labels.append(ResourceLabel(name, 1, [Named(draw(st.sampled_from(ste)), 1)]))
    return p


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(policies())
def test_compile_dump_gives_the_model_back(p: Policy) -> None:
    assert not fatal(check(p), xen_compat=False), [str(d) for d in check(p)]
    num = numbering(p)
    blob = compile_policy(p, num)
    assert compile_policy(p, num) == blob  # deterministic
    b = decode(blob)
    assert b.size == len(blob) and b.loadable
    assert (b.ext is not None) == p.uses_permissions()
    got = from_blob(b, read_map(write_map(p, num, "p.xml", "p.bin")))
    want = from_policy(p)
    assert got.labels == want.labels
    assert sorted(got.conflict_sets, key=lambda c: sorted(c[1])) == sorted(
        [(f"set{k}", s) for k, (_, s) in enumerate(want.conflict_sets)], key=lambda c: sorted(c[1])
    )
    assert got.bootstrap == p.bootstrap


@SETTINGS
@given(policies())
def test_toml_and_xml_give_the_same_bytes_but_the_hash(p: Policy) -> None:
    from_xml = read_policy_bytes(to_xml(p).encode(), "p.xml")
    from_toml = read_policy_bytes(to_toml(p).encode(), "p.toml")
    assert not fatal(check(from_xml), False) and not fatal(check(from_toml), False)
    a, b = compile_policy(from_xml), compile_policy(from_toml)
    assert a[:40] == b[:40] and a[60:] == b[60:]
    assert a[40:60] != b[40:60]
    assert compile_policy(read_policy_bytes(to_xml(p).encode(), "again.xml")) == a


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(policies(), min_size=1, max_size=4))
def test_c_parser_agrees_on_random_blobs(agree, ps: list[Policy]) -> None:
    blobs = [compile_policy(p) for p in ps]
    for r in agree(blobs):
        assert "error" not in r
