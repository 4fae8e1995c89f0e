# SPDX-License-Identifier: MIT
"""Compile-time figure for the closing note (a script, not a test):
a generated policy of 1,000 STE types, 200 conflict sets and 5,000 labels.

    PYTHONPATH=tools python3 tests/policy/perf_compile.py [--ste 1000] [--sets 200] [--labels 5000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from moat.policy import compile_policy, decode, read_policy_bytes
from moat.policy.model import ConflictSet, Named, Policy, ResourceLabel, VmLabel
from moat.policy.validate import check, fatal
from moat.policy.writers import to_toml, to_xml


def generate(ste: int, sets: int, labels: int, seed: int = 1) -> Policy:
    rnd = random.Random(seed)
    chw_n = ste  # one Chinese Wall type per STE type
    p = Policy(file="generated", source_kind="toml", name="perf", version="1.0", bootstrap="vm0")
    p.ste_types = [Named(f"t{i}", 1) for i in range(ste)]
    p.chwall_types = [Named(f"t{i}", 1) for i in range(chw_n)]
    # disjoint conflict sets of 5 types each, so a label with one type per set never self-conflicts
    for k in range(sets):
        p.conflict_sets.append(ConflictSet(f"cs{k}", 1, [Named(f"t{5 * k + j}", 1) for j in range(5)]))
    n_vm = labels * 4 // 5
    for i in range(n_vm):
        st = rnd.sample(range(ste), 3)
        p.vm_labels.append(VmLabel(f"vm{i}", 1, [Named(f"t{t}", 1) for t in st], [Named(f"t{st[0]}", 1)]))
    p.vm_labels[0].ste = [Named(f"t{t}", 1) for t in range(ste)]
    for i in range(labels - n_vm):
        p.resource_labels.append(ResourceLabel(f"res{i}", 1, [Named(f"t{rnd.randrange(ste)}", 1)]))
    return p


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ste", type=int, default=1000)
    ap.add_argument("--sets", type=int, default=200)
    ap.add_argument("--labels", type=int, default=5000)
    a = ap.parse_args()
    for fmt in ("toml", "xml"):
        measure(a, fmt)
    return 0


def measure(a: argparse.Namespace, fmt: str) -> None:
    gen = generate(a.ste, a.sets, a.labels)
    text = (to_toml(gen) if fmt == "toml" else to_xml(gen)).encode()
    t0 = time.perf_counter()
    p = read_policy_bytes(text, f"perf.{fmt}")
    t1 = time.perf_counter()
    bad = fatal(check(p), xen_compat=False)
    t2 = time.perf_counter()
    blob = compile_policy(p)
    t3 = time.perf_counter()
    decode(blob)
    t4 = time.perf_counter()
    assert not bad, bad[:3]
    print(
        f"{fmt.upper()} policy: {a.ste} STE types, {a.ste} CHWALL types, {a.sets} conflict sets, {a.labels} labels "
        f"({len(p.vm_labels)} VM, {len(p.resource_labels)} resource); source {len(text)} bytes, blob {len(blob)} bytes"
    )
    print(
        f"read {t1 - t0:.2f} s, check {t2 - t1:.2f} s, compile {t3 - t2:.2f} s "
        f"(read+check+compile {t3 - t0:.2f} s); decode {t4 - t3:.2f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
