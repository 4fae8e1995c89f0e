# SPDX-License-Identifier: MIT
"""moat mutate end to end: a planted bug (the iret hypercall's rip/rsp bound in arch_upcall_pop
moved by one, `>=` -> `>`) is reported killed by the test that checks that bound, and reported
surviving, with its diff, by a test that never boots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moat.pytest_plugin import MoatCli, require_qemu

# --no-build: `moat test` has built the tree (each worker still builds every mutant in its copy).
MUTANTS = ["hv/arch/x86_64/upcall.c", "--function", "arch_upcall_pop", "--operator", "relational", "--jobs", "1",
           "--no-build"]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runs' work directory, one for the file (for its tests on one xdist worker): the second
    run brings the first one's copy of the tree up to date (moat.mutate_run.copy_tree), a few
    files, instead of copying the tree again (some 1,300 files: 0.3 to 1 s of CPU)."""
    return tmp_path_factory.mktemp("mutate-work")


def mutate(moat_cli: MoatCli, moat_root, tmp_path, work: Path, tests: str,
           name: str) -> tuple[int, dict[str, Any], str]:
    """`moat mutate` in this process (moat_cli): the command is under test, not its start-up. Its
    workers' builds and pytest runs are processes of their own, as they always are."""
    out = tmp_path / f"{name}.json"
    # Its own journal: these runs test moat mutate, they do not measure the tree, and the planted
    # survivor below in the tree's build/mutate/journal.jsonl read as a survivor of the whole run.
    result = moat_cli("mutate", *MUTANTS, "--tests", tests, "--json", str(out), "--work", str(work),
                      "--journal", str(tmp_path / f"{name}.jsonl"), cwd=moat_root)
    assert out.is_file(), result.stdout + result.stderr
    return result.returncode, json.loads(out.read_text()), result.stdout


def test_a_planted_bug_is_killed_by_the_test_that_checks_it(moat_cli, moat_root, tmp_path, work):
    require_qemu()
    rc, data, out = mutate(moat_cli, moat_root, tmp_path, work, "tests/domains/test_iret.py", "iret")
    assert (data["killed"], data["survived"], data["not_built"]) == (2, 0, 0), out
    assert data["kill_rate_percent"] == 100.0
    assert rc == 0
    assert "killed by tests/domains/test_iret.py::" in out


def test_the_same_bug_survives_a_test_that_does_not_look(moat_cli, moat_root, tmp_path, work):
    rc, data, out = mutate(moat_cli, moat_root, tmp_path, work, "tests/tools/test_xtf.py", "xtf")
    assert (data["killed"], data["survived"]) == (0, 2), out
    assert rc == 1
    survivor = data["files"]["hv/arch/x86_64/upcall.c"]["survivors"][0]
    assert survivor["id"] == "hv/arch/x86_64/upcall.c::arch_upcall_pop::relational::>= -> >::0"
    assert "-    if (f.rip >= GUEST_VA_LIMIT || f.rsp >= GUEST_VA_LIMIT)" in survivor["diff"]
    assert "+    if (f.rip > GUEST_VA_LIMIT || f.rsp >= GUEST_VA_LIMIT)" in survivor["diff"]
    assert "SURVIVED hv/arch/x86_64/upcall.c::arch_upcall_pop::relational::>= -> >::0" in out
    recorded = [json.loads(line) for line in (tmp_path / "xtf.jsonl").read_text().splitlines()]
    assert [(r["status"], r["tests"]) for r in recorded] == [("survived", ["tests/tools/test_xtf.py"])] * 2
