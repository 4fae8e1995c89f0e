# SPDX-License-Identifier: MIT
"""The hypervisor's MAC decisions (hv/xsm/acm_decide.c, built for the host) against a Python model.

For every loadable policy of the corpus and the examples, and for every pair of VM labels (a, b):
may they share an event channel or a page (a common STE type), and may b start while a runs
(Chinese Wall: no type of b is in a conflict set with a type of a, other than a's own types)?
The model is written from sHype's rules (docs/mac.md says them in our words), not from the C code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from moat.policy import PolicyReadError, compile_policy, read_policy
from moat.policy.binary import Blob, decode
from moat.policy.validate import check, fatal
from moat.pytest_plugin import host_program

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "policies" / "xen-acm"
EXAMPLES = ROOT / "docs" / "examples" / "policies"


def _sources() -> list[Path]:
    found = sorted(CORPUS.rglob("*.xml")) + sorted(EXAMPLES.glob("*.toml")) + sorted(EXAMPLES.glob("*.xml"))
    good = []
    for path in found:
        try:
            pol = read_policy(path)
        except (PolicyReadError, ValueError):  # unreadable corpus files are tested in test_corpus.py
            continue
        if not fatal(check(pol), xen_compat=True):
            good.append(path)
    return good


@pytest.fixture(scope="module")
def decide_bin() -> Path:
    """build/host/acm_decide_check: tests/host/acm_decide_check.c with hv/xsm/acm_decide.c and
    acm_policy.c, which `moat build` makes (tests/host/SConscript)."""
    return host_program("acm_decide_check")


def model(b: Blob) -> list[tuple[int, int, int, int]]:
    """(a, b, share, may_start) for every pair of VM rows, by sHype's rules."""
    def types(row: bytes) -> set[int]:
        return {t for t, cell in enumerate(row) if cell}

    ste = [types(r) for r in b.ste.ssid]
    chw = [types(r) for r in b.chwall.ssid]
    sets = [types(r) for r in b.chwall.conflict]
    out = []
    for a in range(b.chwall.ssidrefs):
        # While a runs, every other type of each conflict set a's types touch is barred.
        barred = set().union(*[s - chw[a] for s in sets if s & chw[a]])
        for c in range(b.chwall.ssidrefs):
            out.append((a, c, int(bool(ste[a] & ste[c])), int(not chw[c] & barred)))
    return out


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.name)
def test_c_decisions_match_the_model(source: Path, decide_bin: Path, tmp_path: Path) -> None:
    blob = compile_policy(read_policy(source))
    decoded = decode(blob)
    if not decoded.loadable:
        pytest.skip("not a loadable policy (no Chinese Wall types)")
    path = tmp_path / "policy.bin"
    path.write_bytes(blob)
    run = subprocess.run([str(decide_bin), str(path)], capture_output=True, text=True, check=True)
    got = [tuple(int(x) for x in line.split()) for line in run.stdout.splitlines()]
    assert got == model(decoded)


def test_the_demo_policy_decides_as_documented(decide_bin: Path, tmp_path: Path) -> None:
    # A concrete case, so the model itself is checked too: competitors may not run side by side.
    pol = read_policy(EXAMPLES / "demo.toml")
    from moat.policy.model import numbering

    rows = {name: i for i, name in enumerate(numbering(pol).vm_rows)}
    decisions = {(a, b): (share, start) for a, b, share, start in model(decode(compile_policy(pol)))}
    assert decisions[(rows["system"], rows["customer-a"])][0] == 1
    assert decisions[(rows["customer-a"], rows["customer-b"])][0] == 0
    rivals = [(x, y) for x in rows for y in rows if x != y and x.startswith("customer") and y.startswith("customer")
              and decisions[(rows[x], rows[y])][1] == 0]
    assert set(rivals) == {("customer-a", "customer-c"), ("customer-c", "customer-a")}, rivals
