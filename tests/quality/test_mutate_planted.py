# SPDX-License-Identifier: MIT
"""moat mutate end to end: a planted bug (the iret hypercall's rip/rsp bound in arch_upcall_pop
moved by one, `>=` -> `>`) is reported killed by the test that checks that bound, and reported
surviving, with its diff, by a test that never boots."""

from __future__ import annotations

import json
from typing import Any

from moat.pytest_plugin import MoatCli, require_qemu

# --no-build: `moat test` has built the tree (each worker still builds every mutant in its copy).
MUTANTS = ["hv/arch/x86_64/upcall.c", "--function", "arch_upcall_pop", "--operator", "relational", "--jobs", "1",
           "--no-build"]


def mutate(moat_cli: MoatCli, moat_root, tmp_path, tests: str, name: str) -> tuple[int, dict[str, Any], str]:
    """`moat mutate` in this process (moat_cli): the command is under test, not its start-up. Its
    workers' builds and pytest runs are processes of their own, as they always are.

    Both runs use one work directory: the second brings the first one's copy of the tree up to date
    (moat.mutate_run.copy_tree), a few files, instead of copying the tree again (some 1,300 files,
    0.3 to 1 s of CPU). That is why both are one test: xdist may give two tests of a file to two
    workers, each with a work directory of its own."""
    out = tmp_path / f"{name}.json"
    # Its own journal: these runs test moat mutate, they do not measure the tree, and the planted
    # survivor below in the tree's build/mutate/journal.jsonl read as a survivor of the whole run.
    result = moat_cli("mutate", *MUTANTS, "--tests", tests, "--json", str(out), "--work", str(tmp_path / "work"),
                      "--journal", str(tmp_path / f"{name}.jsonl"), cwd=moat_root)
    assert out.is_file(), result.stdout + result.stderr
    return result.returncode, json.loads(out.read_text()), result.stdout


def test_a_planted_bug_survives_a_test_that_does_not_look_and_is_killed_by_the_one_that_does(
        moat_cli, moat_root, tmp_path):
    # A test that never boots: both mutants survive, each reported with its diff and recorded.
    rc, data, out = mutate(moat_cli, moat_root, tmp_path, "tests/tools/test_xtf.py", "xtf")
    assert (data["killed"], data["survived"]) == (0, 2), out
    assert rc == 1
    survivor = data["files"]["hv/arch/x86_64/upcall.c"]["survivors"][0]
    assert survivor["id"] == "hv/arch/x86_64/upcall.c::arch_upcall_pop::relational::>= -> >::0"
    assert "-    if (f.rip >= GUEST_VA_LIMIT || f.rsp >= GUEST_VA_LIMIT)" in survivor["diff"]
    assert "+    if (f.rip > GUEST_VA_LIMIT || f.rsp >= GUEST_VA_LIMIT)" in survivor["diff"]
    assert "SURVIVED hv/arch/x86_64/upcall.c::arch_upcall_pop::relational::>= -> >::0" in out
    recorded = [json.loads(line) for line in (tmp_path / "xtf.jsonl").read_text().splitlines()]
    assert [(r["status"], r["tests"]) for r in recorded] == [("survived", ["tests/tools/test_xtf.py"])] * 2

    # The test that checks the bound kills both.
    require_qemu()
    rc, data, out = mutate(moat_cli, moat_root, tmp_path, "tests/domains/test_iret.py", "iret")
    assert (data["killed"], data["survived"], data["not_built"]) == (2, 0, 0), out
    assert data["kill_rate_percent"] == 100.0
    assert rc == 0
    assert "killed by tests/domains/test_iret.py::" in out
