# SPDX-License-Identifier: MIT
"""`--update-threshold` of moat coverage and moat mutate: only a whole run may raise the floors,
and a run that may not is refused at once, before anything is built or run (a whole coverage
run takes half an hour, a whole mutation run hours; the refusal used to come after it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moat import cli
from moat.commands.coverage import whole_suite
from moat.errors import USER_ERROR_EXIT

from .test_mutate_workdir import fake_tree


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tree = fake_tree(tmp_path / "repo")
    monkeypatch.setenv("MOAT_ROOT", str(tree))
    monkeypatch.chdir(tree)
    return tree


def refused(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str) -> str:
    """Runs moat with argv; fails if it tried to build (nothing may run before the refusal)."""
    def no_build(*_: object, **__: object) -> int:
        raise AssertionError("built before refusing --update-threshold")
    monkeypatch.setattr("moat.commands.coverage.run_scons", no_build)
    monkeypatch.setattr("moat.commands.mutate.run_scons", no_build)
    status = cli.main(list(argv))
    err = capsys.readouterr().err
    assert status == USER_ERROR_EXIT, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("selection", [["tests/test_a.py"], ["-k", "grant"], ["--ignore=tests/boot"],
                                       ["--deselect", "tests/test_a.py::test_a"], ["-x"], ["--maxfail=3"]])
def test_a_partial_coverage_run_may_not_raise_the_floors(
        root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, selection: list[str]) -> None:
    assert not whole_suite(selection)
    err = refused(capsys, monkeypatch, "coverage", "--update-threshold", *selection)
    assert "--update-threshold needs a whole-suite run" in err and "nothing was run" in err


def test_report_only_may_not_raise_the_floors(
        root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    err = refused(capsys, monkeypatch, "coverage", "--report-only", "--update-threshold")
    assert "--update-threshold needs a whole-suite run" in err


def test_the_whole_suite_with_options_that_keep_it_whole(root: Path) -> None:
    assert whole_suite([])
    assert whole_suite(["-n", "2", "--smp", "2", "-v"])


@pytest.mark.parametrize("selection", [["hv/x.c"], ["--function", "f"], ["--tests", "tests/test_a.py"],
                                       ["--max-tests", "3"], ["--operator", "relational"]])
def test_a_partial_mutation_run_may_not_raise_the_floor(
        root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, selection: list[str]) -> None:
    err = refused(capsys, monkeypatch, "mutate", "--update-threshold", *selection)
    assert "--update-threshold needs a run of the default files" in err and "nothing was run" in err
