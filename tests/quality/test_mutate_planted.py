# SPDX-License-Identifier: MIT
"""moat mutate end to end: a planted bug (the iret hypercall's rip/rsp bound in arch_upcall_pop
moved by one, `>=` -> `>`) is reported killed by the test that checks that bound, and reported
surviving, with its diff, by a test that never boots."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from moat.pytest_plugin import require_qemu

MUTANTS = ["hv/arch/x86_64/upcall.c", "--function", "arch_upcall_pop", "--operator", "relational", "--jobs", "1"]


def mutate(moat_root, tmp_path, tests: str, name: str) -> tuple[int, dict[str, Any], str]:
    out = tmp_path / f"{name}.json"
    # Its own journal: these runs test moat mutate, they do not measure the tree, and the planted
    # survivor below in the tree's build/mutate/journal.jsonl read as a survivor of the whole run.
    proc = subprocess.run([sys.executable, "-m", "moat", "mutate", *MUTANTS, "--tests", tests, "--json", str(out),
                           "--work", str(tmp_path / f"work-{name}"), "--journal", str(tmp_path / f"{name}.jsonl")],
                          cwd=moat_root, capture_output=True, text=True, timeout=900)
    assert out.is_file(), proc.stdout + proc.stderr
    return proc.returncode, json.loads(out.read_text()), proc.stdout


def test_a_planted_bug_is_killed_by_the_test_that_checks_it(moat_root, tmp_path):
    require_qemu()
    rc, data, out = mutate(moat_root, tmp_path, "tests/domains/test_iret.py", "iret")
    assert (data["killed"], data["survived"], data["not_built"]) == (2, 0, 0), out
    assert data["kill_rate_percent"] == 100.0
    assert rc == 0
    assert "killed by tests/domains/test_iret.py::" in out


def test_the_same_bug_survives_a_test_that_does_not_look(moat_root, tmp_path):
    rc, data, out = mutate(moat_root, tmp_path, "tests/tools/test_xtf.py", "xtf")
    assert (data["killed"], data["survived"]) == (0, 2), out
    assert rc == 1
    survivor = data["files"]["hv/arch/x86_64/upcall.c"]["survivors"][0]
    assert survivor["id"] == "hv/arch/x86_64/upcall.c::arch_upcall_pop::relational::>= -> >::0"
    assert "-    if (f.rip >= GUEST_VA_LIMIT || f.rsp >= GUEST_VA_LIMIT)" in survivor["diff"]
    assert "+    if (f.rip > GUEST_VA_LIMIT || f.rsp >= GUEST_VA_LIMIT)" in survivor["diff"]
    assert "SURVIVED hv/arch/x86_64/upcall.c::arch_upcall_pop::relational::>= -> >::0" in out
    recorded = [json.loads(line) for line in (tmp_path / "xtf.jsonl").read_text().splitlines()]
    assert [(r["status"], r["tests"]) for r in recorded] == [("survived", ["tests/tools/test_xtf.py"])] * 2
