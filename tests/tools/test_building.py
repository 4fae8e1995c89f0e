# SPDX-License-Identifier: MIT
"""Builds: parallel by default, one progress line, the whole output when a build fails; `moat run`
builds first (and not with --no-build)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moat import building

from .fakeqemu import install, printing
from .test_cli import InProcess, in_process  # noqa: F401 -- in_process is a fixture


def _fake_scons(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str) -> None:
    script = tmp_path / "fake_scons.py"
    script.write_text(body)
    monkeypatch.setattr(building, "scons_command", lambda args=(), root=None: [sys.executable, str(script), *args])


def test_one_progress_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _fake_scons(monkeypatch, tmp_path, "for i in range(200):\n    print(f'CC build/obj/f{i}.o')\n"
                                      "print('hv/x.c:1: note: something a compiler said')\n")
    out = io.StringIO()
    assert building.build(out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "hv/x.c:1: note: something a compiler said"
    assert lines[1].startswith("moat: build: 200 steps in ") and len(lines) == 2


def test_a_failed_build_shows_everything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _fake_scons(monkeypatch, tmp_path, "import sys\nprint('CC a.o')\nprint('a.c:3: error: oops')\n"
                                      "print('scons: *** [a.o] Error 1')\nsys.exit(2)\n")
    out = io.StringIO()
    assert building.build(out=out) == 2
    text = out.getvalue()
    assert "CC a.o" in text and "a.c:3: error: oops" in text and "the build failed (scons exit status 2)" in text


def test_parallel_unless_chosen(tmp_path: Path):
    (tmp_path / "SConstruct").write_text("")
    assert any(a.startswith("-j") for a in building.scons_command([], tmp_path))
    assert building.scons_command(["-j1"], tmp_path).count("-j1") == 1
    assert not any(a.startswith("-j") and a != "-j1" for a in building.scons_command(["-j1"], tmp_path))


def test_run_builds_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, in_process: InProcess):  # noqa: F811
    root = tmp_path / "root"
    root.mkdir()
    (root / "SConstruct").write_text(
        "# SPDX-License-Identifier: MIT\n"
        "def make(target, source, env):\n"
        "    open(str(target[0]), 'wb').write(b'\\0')\n"
        "Command('build/hv/moat.bin', [], Action(make, 'LD $TARGET'))\n")
    install(monkeypatch, tmp_path / "bin", printing(["moat: stop: success"], 1))
    unbuilt = in_process("run", "--no-build", root=root)
    assert unbuilt.returncode == 3 and "run ./moat build first" in unbuilt.stderr  # --no-build: nothing built
    env = dict(os.environ, MOAT_ROOT=str(root))
    proc = subprocess.run([sys.executable, "-m", "moat", "run"], capture_output=True, text=True, env=env,
                          cwd=root, timeout=120, check=False)  # the helper would add --no-build
    assert proc.returncode == 0, proc.stderr
    assert "moat: build: 1 step in" in proc.stderr and (root / "build" / "hv" / "moat.bin").is_file()
