# SPDX-License-Identifier: MIT
"""moat mutate's command line: FILES may come after `--tests` (one test per --tests, repeatable),
and a relative FILE is taken from the moat tree ($MOAT_ROOT), as the tests are, whatever the
current directory; a path outside the tree, or a test given where a FILE goes, is refused with a
message, not a traceback. Everything here uses --list (nothing is built or run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moat import cli
from moat.errors import USER_ERROR_EXIT

from .test_mutate_workdir import fake_tree

# A C file whose mutants differ from the fake tree's (`a > 9` instead of `a < 4`).
OTHER_C_FILE = "// SPDX-License-Identifier: MIT\nint g(int a)\n{\n    return a > 9;\n}\n"


def listed(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    status = cli.main(["mutate", *argv, "--list"])
    out, err = capsys.readouterr()
    return status, [line for line in out.splitlines() if line.startswith("hv/")], err


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tree = fake_tree(tmp_path / "repo")
    monkeypatch.setenv("MOAT_ROOT", str(tree))
    return tree


def test_files_after_tests_are_files(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, err = listed(capsys, "--tests", "tests/test_a.py", "hv/core/y.c")
    assert status == 0, err
    assert lines and all(line.startswith("hv/core/y.c:") for line in lines), lines


def test_tests_repeat_and_the_files_follow_them(root: Path) -> None:
    args, extra = cli.make_parser("mutate").parse_known_args(
        ["mutate", "--tests", "tests/test_a.py", "--tests", "tests/test_b.py::test_b", "hv/x.c", "hv/core/y.c"])
    assert not extra
    assert args.tests == ["tests/test_a.py", "tests/test_b.py::test_b"]
    assert args.files == ["hv/x.c", "hv/core/y.c"]


def test_a_second_test_after_one_tests_is_refused_with_a_hint(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, err = listed(capsys, "--tests", "tests/test_a.py", "tests/test_b.py")
    assert status == USER_ERROR_EXIT and not lines
    assert "tests/test_b.py: not a C file under hv/" in err and "its own --tests" in err, err
    assert "Traceback" not in err


def test_relative_files_are_taken_from_the_tree_not_the_current_directory(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = listed(capsys, "hv/core/y.c")[1]
    assert expected and all("::f::" in line for line in expected), expected
    # Another checkout as the current directory, with a file of the same name: the tree's is used.
    other = tmp_path / "other"
    (other / "hv" / "core").mkdir(parents=True)
    (other / "hv" / "core" / "y.c").write_text(OTHER_C_FILE)
    monkeypatch.chdir(other)
    status, lines, err = listed(capsys, "hv/core/y.c")
    assert status == 0 and "Traceback" not in err, err
    assert lines == expected
    # From a directory of the tree itself, FILES are still paths from its root.
    monkeypatch.chdir(root / "hv")
    assert listed(capsys, "hv/core/y.c")[1] == expected
    status, lines, err = listed(capsys, "core/y.c")
    assert status == USER_ERROR_EXIT and "core/y.c: not a C file under hv/" in err, err


def test_absolute_files_must_be_in_the_tree(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, err = listed(capsys, str(root / "hv" / "x.c"))
    assert status == 0 and lines and all(line.startswith("hv/x.c:") for line in lines), err
    outside = tmp_path / "outside.c"
    outside.write_text(OTHER_C_FILE)
    status, lines, err = listed(capsys, str(outside))
    assert status == USER_ERROR_EXIT and not lines
    assert f"{outside}: not in the moat tree" in err and "Traceback" not in err, err


def test_a_header_under_hv_is_mutated_in_its_inline_functions(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hot-path checks live in static inline functions of hv/ headers; they are mutated as a .c's
    functions are (a header elsewhere, or any other kind of file, is still refused)."""
    (root / "hv" / "x.h").write_text("// SPDX-License-Identifier: MIT\n#ifndef X_H\n#define X_H\n"
                                     "static inline int h(int a)\n{\n    return a >= 2;\n}\n#endif\n")
    status, lines, err = listed(capsys, "hv/x.h")
    assert status == 0 and "Traceback" not in err, err
    # Inside the include guard, as every header's functions are.
    assert lines and all(line.startswith("hv/x.h:6: hv/x.h::h::") for line in lines), lines
    assert any("::relational::>= -> >::" in line for line in lines), lines
    (root / "tests" / "x.h").write_text("int n;\n")
    status, lines, err = listed(capsys, "tests/x.h")
    assert status == USER_ERROR_EXIT and "tests/x.h: not a C file under hv/" in err, err
    (root / "hv" / "x.txt").write_text("a < 4\n")
    assert listed(capsys, "hv/x.txt")[0] == USER_ERROR_EXIT
