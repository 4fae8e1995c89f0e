# SPDX-License-Identifier: MIT
"""--version, --help of every command, `moat test`'s own options, the lock file, symbolize's ELF."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from moat import cli, pytest_args
from moat.commands import symbolize
from moat.pytest_plugin import CliResult, MoatCli

from .test_cli import moat

ROOT = Path(__file__).resolve().parents[2]


def test_version_names_the_build_and_git(tmp_path: Path):
    proc = moat("--version", root=ROOT)
    assert proc.returncode == 0
    assert re.fullmatch(r"moat \S+ \((hypervisor \S+ built [\d: -]+|hypervisor not built); "
                        r"(git [0-9a-f]{7,}(-dirty)?|not a git checkout)\)\n", proc.stdout), proc.stdout
    assert "not a git checkout" in moat("--version", root=tmp_path).stdout


def help_text(moat_cli: MoatCli, name: str) -> CliResult:
    """`moat NAME --help` in-process (the --version test above runs the real command), 80 columns
    wide as in a pipe."""
    return moat_cli(name, "--help", cwd=ROOT, MOAT_ROOT=str(ROOT), COLUMNS="80")


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_help_says_what_it_does(name: str, moat_cli: MoatCli):
    proc = help_text(moat_cli, name)
    assert proc.returncode == 0, proc.stderr
    assert "exit status" in proc.stdout, f"`moat {name} --help` does not give its exit statuses"
    if name != "policy":
        assert "reads:" in proc.stdout and "writes:" in proc.stdout, f"`moat {name} --help`: reads/writes"


@pytest.mark.parametrize("name", ["build", "test", "run"])
def test_pass_through_arguments_are_in_the_usage(name: str, moat_cli: MoatCli):
    usage = help_text(moat_cli, name).stdout.split("\n\n")[0]
    assert re.search(r"(SCONS|PYTEST|QEMU) ARGS", usage), usage


def test_help_imports_no_command(tmp_path: Path):
    code = ("import sys, moat.cli\n"
            "try:\n    moat.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('moat.', 'lxml', 'elftools'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "['moat.cli', 'moat.commands', 'moat.errors']"  # no command module


def test_test_list_does_not_build(tmp_path: Path):
    proc = moat("test", "--list", "tests/tools/test_xtf.py", root=ROOT, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "test_xtf.py::" in proc.stdout and "moat: build" not in proc.stderr


def test_junit_xml_goes_under_build():
    assert pytest_args.junit_args([], ROOT) == [f"--junitxml={ROOT / 'build' / 'test-results' / 'junit.xml'}"]
    assert pytest_args.junit_args(["--junitxml=x.xml"], ROOT) == []


def test_junit_xml_is_written(tmp_path: Path):
    junit = tmp_path / "j.xml"
    proc = moat("test", "--no-build", "-n", "0", f"--junitxml={junit}", "tests/tools/test_xtf.py", root=ROOT,
                cwd=ROOT)
    assert proc.returncode == 0, proc.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) > 0


def test_one_selected_test_runs_without_workers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    assert pytest_args.one_test(["tests/tools/test_xtf.py::test_parse_line"], ROOT)
    assert not pytest_args.one_test([], ROOT)
    assert not pytest_args.one_test(["tests/tools"], ROOT)
    assert pytest_args.one_test(["tests/tools/test_xtf.py", "-k", "test_parse_line"], ROOT)  # collects: one


def test_requirements_are_pinned_with_hashes():
    lock = (ROOT / "tools" / "requirements.lock").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", lock, re.M)
    names = re.findall(r"^([A-Za-z0-9_.-]+)==", lock, re.M)
    assert names and [p[0] for p in pins] == names, "every pin needs --hash lines"


def test_symbolize_picks_the_elf_the_log_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MOAT_ROOT", str(tmp_path))
    (tmp_path / "build" / "hv").mkdir(parents=True)
    for kind in ("moat", "moat-selftest"):
        (tmp_path / "build" / "hv" / f"{kind}.elf").write_bytes(b"")
    log = "moat 0.1.0 x86-64 hypervisor\ncmdline: build/hv/moat-selftest.bin selftest=fault:pf\n"
    assert symbolize.elf_for(log).name == "moat-selftest.elf"
    assert symbolize.elf_for("no cmdline line\n").name == "moat.elf"
