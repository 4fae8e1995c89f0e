# SPDX-License-Identifier: MIT
"""moat mutate's work directory: the workers' copies of the tree never copy the work directory
(wherever it is: under build/, in a source directory, reached through a symbolic link), and a work
directory that is the tree or holds it is refused with a message, not a traceback."""

from __future__ import annotations

import json
import os
import shutil
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


def stats(top: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry below top: (mode, size, mtime in ns, a link's target)."""
    out = {}
    for p in top.rglob("*"):
        st = p.lstat()
        size = 0 if p.is_dir() and not p.is_symlink() else st.st_size
        out[p.relative_to(top).as_posix()] = (st.st_mode, size, st.st_mtime_ns,
                                              os.readlink(p) if p.is_symlink() else "")
    return out


def test_a_copy_left_by_a_run_is_brought_up_to_date_as_a_fresh_copy_would_be(tmp_path: Path) -> None:
    """A worker's copy from an earlier run is not deleted and made again (some 1,300 files for the
    real tree): what differs from the tree is copied again, what the tree has not is deleted, and
    the rest is left as it is. The result is what a fresh copy holds, timestamps and all."""
    root = fake_tree(tmp_path / "repo")
    (root / "hv" / "link.c").symlink_to("x.c")
    (root / "tests" / "data").mkdir()
    (root / "tests" / "data" / "run.sh").write_text("#!/bin/sh\n")
    for p in root.rglob("*"):  # written long ago: whatever is written below is newer
        os.utime(p, (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    work = tmp_path / "work"
    copy = work / "work-0"
    mutate_run.copy_tree(root, copy, work)
    # What a run leaves in its copy: a mutant's build and test logs, and what else may happen there.
    (copy / "hv/x.c").write_text(C_FILE.replace("<", ">"))   # same size: only the time tells
    (copy / "build/hv/moat.elf").write_text("a mutant's build")
    (copy / "build/test-logs").mkdir()
    (copy / "build/test-logs/boot.log").write_text("log")
    (copy / "hv/core/new.c").write_text("left behind")
    (copy / "tests/test_a.py").unlink()
    shutil.rmtree(copy / "tests/data")
    (copy / "tests/data").write_text("a file where a directory was")
    (copy / "hv/link.c").unlink()
    (copy / "hv/link.c").symlink_to("core/y.c")
    (copy / "build/host/acm_policy").chmod(0o755)
    # The tree moves on too.
    (root / "SConstruct").write_text("# changed\n")
    (root / "tests/data/run.sh").chmod(0o755)
    kept = (copy / "hv/core/y.c").stat().st_ino
    mutate_run.copy_tree(root, copy, work)
    fresh = tmp_path / "fresh"
    mutate_run.copy_tree(root, fresh)
    assert stats(copy) == stats(fresh)
    assert all((copy / f).read_bytes() == (root / f).read_bytes() for f in COPIED)
    assert (copy / "hv/core/y.c").stat().st_ino == kept  # unchanged: not written again


# Builds the targets a worker asks for (build/hv, build/host) only from the original hv/x.c: its
# one relational mutant (`return a <= 4;`) does not build.
PICKY_SCONSTRUCT = """\
env = Environment(tools=[])
env.Command("build/hv/x.o", "hv/x.c", "grep -q 'a < 4;' $SOURCE && cp $SOURCE $TARGET")
env.Command("build/host/ok", [], "touch $TARGET")
"""


def mutate_x(root: Path, tmp_path: Path) -> int:
    """`moat mutate` of hv/x.c's relational mutants in the tree at root (built: --no-build)."""
    (root / "tests/quality").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("thresholds.toml"), root / "tests/quality/thresholds.toml")
    return cli.main(["mutate", "hv/x.c", "--operator", "relational", "--tests", "tests/test_a.py", "-j", "1",
                     "--no-build", "--work", str(tmp_path / "work"), "--journal", str(tmp_path / "journal.jsonl"),
                     "--json", str(tmp_path / "m.json")])


def test_a_mutant_that_does_not_build_counts_nowhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The first mutant of a copy that does not build could be a tree that does not build: the
    copy is built unmutated then (not before every run), and builds, so the mutant is not built."""
    root = fake_tree(tmp_path / "repo")
    (root / "SConstruct").write_text(PICKY_SCONSTRUCT)
    monkeypatch.setenv("MOAT_ROOT", str(root))
    status = mutate_x(root, tmp_path)
    data = json.loads((tmp_path / "m.json").read_text())
    assert (status, data["not_built"], data["killed"], data["survived"], data["errors"]) == (0, 1, 0, 0, 0), \
        capsys.readouterr()
    assert (tmp_path / "work/work-0/hv/x.c").read_text() == C_FILE


def test_a_tree_that_does_not_build_stops_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_tree(tmp_path / "repo")
    (root / "SConstruct").write_text(PICKY_SCONSTRUCT.replace("grep -q 'a < 4;' $SOURCE", "false"))
    monkeypatch.setenv("MOAT_ROOT", str(root))
    status = mutate_x(root, tmp_path)
    err = capsys.readouterr().err
    assert status == USER_ERROR_EXIT
    assert f"moat: error: the unmutated copy in {tmp_path / 'work' / 'work-0'} does not build" in err
    assert not (tmp_path / "m.json").exists()
