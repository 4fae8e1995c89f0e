# SPDX-License-Identifier: MIT
"""What makes the suite cheaper to run (docs/testing.md): the `moat_cli` fixture that runs a
command in-process, and the environment `moat test` gives pytest (compiled Python kept)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from moat.commands.test import pytest_env
from moat.pytest_plugin import MoatCli


def test_moat_cli_gives_the_status_and_output_and_restores_the_environment(
        moat_cli: MoatCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOAT_ROOT", raising=False)
    here = Path.cwd()
    print("printed by the test before")
    r = moat_cli("policy", "check", str(tmp_path / "nope.toml"), cwd=tmp_path, MOAT_ROOT=str(tmp_path))
    assert r.returncode == 3 and "nope.toml" in r.stderr and r.stdout == "", r
    assert "MOAT_ROOT" not in os.environ and Path.cwd() == here
    usage = moat_cli("no-such-command")  # argparse's SystemExit is a status, not an escape
    assert usage.returncode == 3 and "invalid choice" in usage.stderr, usage
    listed = moat_cli("bench", "--list")
    assert listed.returncode == 0 and "null_hypercall" in listed.stdout, listed


def test_moat_test_keeps_compiled_python_under_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    env = pytest_env(tmp_path)
    assert "PYTHONDONTWRITEBYTECODE" not in env and env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "build" / "pycache")
    assert env["PATH"] == os.environ["PATH"]
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", "/elsewhere")  # the user's own choice stays
    assert pytest_env(tmp_path)["PYTHONPYCACHEPREFIX"] == "/elsewhere"
