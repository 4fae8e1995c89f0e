# SPDX-License-Identifier: MIT
"""moat mutate's journal: every result is recorded as it comes, under a digest of the tree, and
`--resume` takes the results of the same tree back instead of running those mutants again. A
change to anything a mutant's outcome depends on (a source, a test) runs them again; the list of
equivalents and the thresholds, which record runs, do not count. A torn last line (a run stopped
while writing) and the runner's own errors are never taken back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from moat import cli, mutate_journal

from .test_mutate_workdir import fake_tree

# SCons builds the two targets a worker asks for (`build/hv`, `build/host`) from the fake sources
# (no tools: a default Environment looks for compilers, some 30 runs of gcc and g++ no step here needs).
SCONSTRUCT = """\
env = Environment(tools=[])
env.Command("build/hv/x.o", ["hv/x.c", "hv/core/y.c"], "cat ${SOURCES} > $TARGET")
env.Command("build/host/ok", [], "touch $TARGET")
"""
# Fails when hv/x.c is not the original: the mutant of `return a < 4;` (`<=`) is killed by it.
TEST_A = 'def test_a():\n    assert "a < 4;" in open("hv/x.c").read()\n'


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = fake_tree(tmp_path / "repo")
    (root / "SConstruct").write_text(SCONSTRUCT)
    (root / "tests/test_a.py").write_text(TEST_A)
    shutil.rmtree(root / "build")
    (root / "tests/quality").mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("thresholds.toml"), root / "tests/quality/thresholds.toml")
    monkeypatch.setenv("MOAT_ROOT", str(root))
    return root


RUN = ("mutate", "hv/x.c", "--operator", "relational", "--tests", "tests/test_a.py", "-j", "1")


def mutate(tree: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any], str]:
    out = tree.parent / "m.json"
    status = cli.main([*RUN, "--json", str(out), *extra])
    captured = capsys.readouterr()
    return status, json.loads(out.read_text()), captured.out + captured.err


def test_resume_takes_back_the_same_trees_results_and_runs_again_after_a_change(tree, capsys):
    status, first, _ = mutate(tree, capsys)
    assert (status, first["killed"], first["survived"], first["from_journal"]) == (0, 1, 0, 0)
    journal = tree / "build/mutate/journal.jsonl"
    assert len(journal.read_text().splitlines()) == 1

    shutil.rmtree(tree / "build/mutate/work-0")
    (tree / "build/hv/x.o").unlink()
    status, again, out = mutate(tree, capsys, "--resume")
    assert (status, again["killed"], again["from_journal"]) == (0, 1, 1), out
    assert "moat mutate: 0 mutants to run" in out
    # Nothing was copied, built or run: not even the tree (with --tests it is built for a run only).
    assert not (tree / "build/mutate/work-0").exists() and not (tree / "build/hv/x.o").exists()

    thresholds = tree / "tests/quality/thresholds.toml"
    thresholds.write_text(thresholds.read_text() + "# raised\n")  # records runs: not an input
    assert mutate(tree, capsys, "--resume")[1]["from_journal"] == 1

    (tree / "hv/core/y.c").write_text((tree / "hv/core/y.c").read_text() + "// changed\n")
    status, changed, _ = mutate(tree, capsys, "--resume")
    assert (status, changed["killed"], changed["from_journal"]) == (0, 1, 0)


def test_only_whole_lines_of_this_tree_with_a_reusable_outcome_come_back(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = mutate_journal.Journal(path, "tree-a")
    journal.record("m1", ["t1"], "killed", 1.0, "killed by t1")
    journal.record("m2", ["t1"], "error", 1.0, "pytest exit status 4")
    journal.record("m3", ["t1", "t2"], "survived", 2.0, "2 tests passed")
    mutate_journal.Journal(path, "tree-b").record("m4", ["t1"], "killed", 1.0, "killed by t1")
    journal.record("m3", ["t1", "t2"], "killed", 3.0, "killed by t2")  # a later run of the same mutant wins
    with path.open("a") as f:
        f.write('{"tree": "tree-a", "id": "m5", "tests": ["t1"], "sta')  # a run stopped mid-line
    got = journal.load()
    assert got == {("m1", ("t1",)): mutate_journal.Recorded("killed", 1.0, "killed by t1"),
                   ("m3", ("t1", "t2")): mutate_journal.Recorded("killed", 3.0, "killed by t2")}
    assert mutate_journal.Journal(tmp_path / "none.jsonl", "tree-a").load() == {}


def test_the_digest_follows_the_inputs_and_not_the_run_records(tmp_path):
    root = fake_tree(tmp_path / "repo")
    base = mutate_journal.tree_digest(root)
    (root / "tests/quality").mkdir(parents=True)
    (root / "tests/quality/equivalent-mutants.toml").write_text("# none\n")
    (root / "tests/__pycache__").mkdir()
    (root / "tests/__pycache__/x.pyc").write_text("bytes")
    (root / "build/hv/moat.elf").write_text("another build")
    assert mutate_journal.tree_digest(root) == base
    for name in ("tests/test_a.py", "hv/x.c", "SConstruct", "images/lib/new.c", "tools/moat/x.py"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text() if path.exists() else None
        path.write_text((old or "") + "# changed\n")
        assert mutate_journal.tree_digest(root) != base, name
        if old is None:
            path.unlink()
        else:
            path.write_text(old)
        assert mutate_journal.tree_digest(root) == base, name


def test_a_journal_of_its_own_leaves_the_trees_journal_alone(tree, capsys, tmp_path):
    # tests/quality/test_mutate_planted.py's deliberate survivor once sat in the tree's journal,
    # where it read as a survivor of the whole default run.
    # --no-build: the journals are the point, and the worker builds what its mutant needs anyway.
    own = tmp_path / "own.jsonl"
    status, first, _ = mutate(tree, capsys, "--no-build", "--journal", str(own))
    assert (status, first["killed"], first["from_journal"]) == (0, 1, 0)
    assert len(own.read_text().splitlines()) == 1
    assert not (tree / "build/mutate/journal.jsonl").exists()
    assert mutate(tree, capsys, "--no-build", "--resume", "--journal", str(own))[1]["from_journal"] == 1
    # The tree's journal knew nothing.
    assert mutate(tree, capsys, "--no-build", "--resume")[1]["from_journal"] == 0
