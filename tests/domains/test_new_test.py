# SPDX-License-Identifier: MIT
"""`moat new-test NAME`: the scaffold compiles with the guest flags, its scenario parses, and
nothing is ever overwritten."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from moat import manifest, scenario
from moat.commands import new_test
from moat.errors import UserError
from moat.include_roots import GUEST, include_flags

ROOT = Path(__file__).resolve().parents[2]


def test_scaffold_writes_a_test_and_a_scenario(tmp_path: Path):
    source, scen_path = new_test.scaffold("probe", tmp_path)
    assert source == tmp_path / "images" / "tests" / "probe" / "probe.c"
    assert scen_path == tmp_path / "tests" / "scenarios" / "probe.toml"
    assert "SPDX-License-Identifier: MIT" in source.read_text().splitlines()[0]
    assert "void test_main(void)" in source.read_text()
    scen = scenario.load(scen_path)
    assert [(d.name, d.image, d.expect) for d in scen.domains] == [("probe", "probe", "poweroff")]
    manifest.encode(scen)


def test_scaffold_compiles_with_the_guest_flags(tmp_path: Path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found")
    source, _ = new_test.scaffold("probe", tmp_path)
    include = subprocess.check_output([gcc, "-print-file-name=include"], text=True).strip()
    proc = subprocess.run([gcc, "-std=c11", "-ffreestanding", "-nostdinc", "-isystem", include,
                           "-mgeneral-regs-only", "-Wall", "-Wextra", "-Werror", "-Wvla", "-fsyntax-only",
                           *include_flags(GUEST, ROOT), str(source)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_refuses_to_overwrite(tmp_path: Path):
    new_test.scaffold("probe", tmp_path)
    (tmp_path / "images" / "tests" / "probe" / "probe.c").write_text("mine")
    with pytest.raises(UserError, match="already exists"):
        new_test.scaffold("probe", tmp_path)
    assert (tmp_path / "images" / "tests" / "probe" / "probe.c").read_text() == "mine"


def test_refuses_a_scenario_that_exists(tmp_path: Path):
    (tmp_path / "tests" / "scenarios").mkdir(parents=True)
    (tmp_path / "tests" / "scenarios" / "probe.toml").write_text("# mine\n")
    with pytest.raises(UserError, match="already exists"):
        new_test.scaffold("probe", tmp_path)
    assert not (tmp_path / "images" / "tests" / "probe").exists()


@pytest.mark.parametrize("name", ["", "Probe", "1probe", "pro-be", "a" * 32, "../x"])
def test_rejects_bad_names(tmp_path: Path, name: str):
    with pytest.raises(UserError, match="not a test name"):
        new_test.scaffold(name, tmp_path)
