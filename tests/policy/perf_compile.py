# SPDX-License-Identifier: MIT
"""Compile-time break-down (a script, not a test): a generated policy of 1,000 STE types,
200 conflict sets and 5,000 labels (moat.policy.generate). `moat bench policy_compile` gives
the wall-clock figures; this script shows where the time goes.

    PYTHONPATH=tools python3 tests/policy/perf_compile.py [--ste 1000] [--sets 200] [--labels 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from moat.policy import compile_policy, decode, read_policy_bytes
from moat.policy.generate import generate
from moat.policy.validate import check, fatal
from moat.policy.writers import to_toml, to_xml


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
