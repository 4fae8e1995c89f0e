# SPDX-License-Identifier: MIT
"""moat mutate's work directory: the workers' copies of the tree never copy the work directory
(wherever it is: under build/, in a source directory, reached through a symbolic link), and a work
directory that is the tree or holds it is refused with a message, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from moat import cli, mutate_run
from moat.errors import USER_ERROR_EXIT, UserError

C_FILE = "// SPDX-License-Identifier: MIT\nint f(int a)\n{\n    return a < 4;\n}\n"


def fake_tree(root: Path) -> Path:
    """A small checkout: sources, build outputs, and what a copy leaves out."""
    files = {
        "SConstruct": "# top\n",
        "hv/x.c": C_FILE,
        "hv/core/y.c": C_FILE,
        "tests/test_a.py": "def test_a():\n    pass\n",
        "build/hv/moat.elf": "elf",
        "build/host/acm_policy": "host program",
        "build/mutate/mutate.json": "{}",
        "build/coverage/tests.json": "{}",
        "build/pycache/moat/cli.pyc": "bytes",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".venv/bin/python": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    old = 1_000_000_000
    os.utime(root / "build/hv/moat.elf", (old, old))
    return root


def relative_files(top: Path) -> set[str]:
    return {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}


COPIED = {"SConstruct", "hv/x.c", "hv/core/y.c", "tests/test_a.py", "build/hv/moat.elf", "build/host/acm_policy"}


def test_a_worker_under_build_is_not_copied_into_itself(tmp_path: Path) -> None:
    # `moat mutate --work build/mutate2`: the copy recursed into build/mutate2/work-0/build/mutate2/...
    root = fake_tree(tmp_path / "repo")
    dest = root / "build" / "mutate2" / "work-0"
    mutate_run.copy_tree(root, dest)
    assert relative_files(dest) == COPIED
    assert (dest / "hv" / "x.c").read_text() == C_FILE
    # Timestamps kept, so SCons in the copy finds the build up to date.
    assert (dest / "build/hv/moat.elf").stat().st_mtime == 1_000_000_000


def test_the_work_directory_is_skipped_in_a_source_directory_and_for_every_worker(tmp_path: Path) -> None:
    root = fake_tree(tmp_path / "repo")
    work = root / "hv" / "scratch"
    for n in range(2):
        mutate_run.copy_tree(root, work / f"work-{n}", work)
    # The second worker holds no copy of the first.
    for n in range(2):
        assert relative_files(work / f"work-{n}") == COPIED
    assert relative_files(root) - {f"hv/scratch/work-{n}/{f}" for n in range(2) for f in COPIED} == \
        COPIED | {"build/mutate/mutate.json", "build/coverage/tests.json", "build/pycache/moat/cli.pyc", ".git/HEAD",
                  ".venv/bin/python"}


def test_the_work_directory_is_recognised_through_a_symbolic_link(tmp_path: Path) -> None:
    root = fake_tree(tmp_path / "repo")
    (tmp_path / "out").symlink_to(root / "build")
    work = tmp_path / "out" / "elsewhere"
    mutate_run.copy_tree(root, work / "work-0", work)
    assert relative_files(root / "build" / "elsewhere" / "work-0") == COPIED


@pytest.mark.parametrize("where", ["root", "parent"])
def test_a_work_directory_that_is_or_holds_the_tree_is_refused(tmp_path: Path, where: str) -> None:
    # The tree is named like a worker's copy: copying a worker into tmp_path/work-0 would first
    # delete it.
    root = fake_tree(tmp_path / "work-0")
    work = root if where == "root" else tmp_path
    before = relative_files(root)
    with pytest.raises(UserError, match="work directory"):
        mutate_run.check_work_dir(root, work)
    with pytest.raises(UserError, match="the tree"):
        mutate_run.copy_tree(root, work / "work-0" if where == "parent" else root, work)
    assert relative_files(root) == before


def test_a_work_directory_inside_the_tree_is_accepted(tmp_path: Path) -> None:
    root = fake_tree(tmp_path / "repo")
    for work in (root / "build" / "mutate2", root / "hv" / "scratch", tmp_path / "elsewhere"):
        mutate_run.check_work_dir(root, work)


def test_a_work_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    root = fake_tree(tmp_path / "repo")
    with pytest.raises(UserError, match="not a directory"):
        mutate_run.check_work_dir(root, root / "SConstruct")


@pytest.mark.parametrize("where", ["root", "parent"])
def test_moat_mutate_refuses_such_a_work_directory_with_a_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str) -> None:
    root = fake_tree(tmp_path / "repo")
    monkeypatch.setenv("MOAT_ROOT", str(root))
    work = root if where == "root" else tmp_path
    status = cli.main(["mutate", "hv/x.c", "--work", str(work), "--tests", "tests/test_a.py"])
    err = capsys.readouterr().err
    assert status == USER_ERROR_EXIT
    assert err.startswith("moat: error: --work ") and str(work) in err
    assert "Traceback" not in err
    assert not list(work.glob("work-*"))


def test_a_second_run_in_the_same_work_directory_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Two runs in one work directory would share work-0 and report each other's outcomes."""
    root = fake_tree(tmp_path / "repo")
    monkeypatch.setenv("MOAT_ROOT", str(root))
    work = tmp_path / "work"
    with mutate_run.work_lock(work):  # the first run
        status = cli.main(["mutate", "hv/x.c", "--work", str(work), "--tests", "tests/test_a.py"])
        err = capsys.readouterr().err
        assert status == USER_ERROR_EXIT
        assert f"another moat mutate is running in {work}" in err and "--work DIR" in err
        assert "Traceback" not in err
        assert not list(work.glob("work-*"))
    with mutate_run.work_lock(work):  # free again once the first run ends
        pass
