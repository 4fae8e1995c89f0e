# SPDX-License-Identifier: MIT
"""The `moat` command: exit statuses and the errors a user sees (never a traceback)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from moat import cli
from moat.pytest_args import pytest_args
from moat.pytest_plugin import CliResult, MoatCli
from moat.qemu import kvm_usable

from .elfs import build
from .fakeqemu import install, printing


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """A repository root whose build/hv holds (fake) hypervisor images."""
    root = tmp_path / "root"
    (root / "build" / "hv").mkdir(parents=True)
    for name in ("moat.bin", "moat-selftest.bin"):
        (root / "build" / "hv" / name).write_bytes(b"\0")
    return root


def _no_build(args: tuple[str, ...]) -> tuple[str, ...]:
    if args[:1] == ("run",) and "--no-build" not in args:  # the fake roots have nothing to build
        return ("run", "--no-build", *args[1:])
    return args


def moat(*args: str, root: Path | None = None, cwd: Path | None = None, timeout: float = 60,
         **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m moat ARGS`: for the tests of the process itself (its exit status for a usage
    error, stdin, --version); the others use `in_process`."""
    environ = dict(os.environ)
    if root is not None:
        environ["MOAT_ROOT"] = str(root)
    environ.update(env)
    proc = subprocess.run([sys.executable, "-m", "moat", *_no_build(args)], capture_output=True, text=True,
                          env=environ, cwd=cwd or root, timeout=timeout, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


InProcess = Callable[..., CliResult]


@pytest.fixture
def in_process(moat_cli: MoatCli) -> InProcess:
    """in_process(*ARGS, root=, cwd=, **env): `moat ARGS` run by moat.cli.main in this process
    (moat_cli), with MOAT_ROOT=root: what a command does and says, and the status `python -m moat`
    exits with (__main__ is `sys.exit(main())`; test_bad_usage and the signal tests run the real
    process). A `python -m moat` costs 0.05 to 0.1 s of CPU to start, this nothing; an exception
    main does not turn into a message fails the test, as a traceback would."""
    def run(*args: str, root: Path | None = None, cwd: Path | None = None, **env: str) -> CliResult:
        if root is not None:
            env["MOAT_ROOT"] = str(root)
        result = moat_cli(*_no_build(args), cwd=cwd or root, **env)
        assert "Traceback" not in result.stderr, result.stderr
        return result
    return run


def test_missing_qemu_says_which_package(fake_root: Path, tmp_path: Path, in_process: InProcess):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    proc = in_process("run", root=fake_root, PATH=str(empty))
    assert proc.returncode == 3
    assert "install it with: apt-get install qemu-system-x86" in proc.stderr


def test_missing_build_output(tmp_path: Path, in_process: InProcess):
    proc = in_process("run", root=tmp_path)
    assert proc.returncode == 3
    assert "run ./moat build first" in proc.stderr
    proc = in_process("run", "--selftest", root=tmp_path)
    assert "moat-selftest.bin is missing" in proc.stderr


@pytest.mark.parametrize("qemu_exit,stop,moat_exit", [
    (1, "success", 0), (3, "failure", 1), (0, None, 2), (139, None, 2), (1, None, 2), (3, None, 2)])
def test_run_exits_with_the_system_status(monkeypatch, fake_root: Path, tmp_path: Path, qemu_exit, stop,
                                          moat_exit, in_process: InProcess):
    lines = ["moat 0.1.0 x86-64 hypervisor", "bye"] + ([f"moat: stop: {stop}"] if stop else [])
    install(monkeypatch, tmp_path / "bin", printing(lines, qemu_exit))
    log = tmp_path / "console.log"
    proc = in_process("run", "--log", str(log), root=fake_root)
    assert proc.returncode == moat_exit, proc.stderr
    assert proc.stdout == "".join(f"{line}\n" for line in lines)
    assert log.read_text() == proc.stdout


def test_qemu_failure_is_not_reported_as_success(monkeypatch, fake_root: Path, tmp_path: Path, in_process: InProcess):
    install(monkeypatch, tmp_path / "bin",
            "echo 'qemu-system-x86_64: cannot set up guest memory: Cannot allocate memory' >&2\nexit 1\n")
    proc = in_process("run", "--memory", "900G", root=fake_root)
    assert proc.returncode == 2, proc.stderr
    assert "success" not in proc.stderr.replace("moat: stop: success", "")
    assert "QEMU failed" in proc.stderr and "cannot set up guest memory" in proc.stderr


def test_timeout_shows_the_last_lines(monkeypatch, fake_root: Path, tmp_path: Path, in_process: InProcess):
    body = "for i in $(seq 1 30); do echo \"line $i\"; done\nsleep 300\n"
    install(monkeypatch, tmp_path / "bin", body)
    proc = in_process("run", "--timeout", "1", root=fake_root)
    assert proc.returncode == 2
    assert "timeout" in proc.stderr and "last 20 console lines" in proc.stderr
    tail = proc.stderr.splitlines()
    assert "line 30" in tail and "line 11" in tail and "line 10" not in tail


def test_gdb_prints_the_command(monkeypatch, fake_root: Path, tmp_path: Path, in_process: InProcess):
    args_file = tmp_path / "args"
    install(monkeypatch, tmp_path / "bin", printing(["moat: stop: success"], 1, args_file))
    proc = in_process("run", "--gdb", root=fake_root)
    assert proc.returncode == 0
    assert "gdb build/hv/moat.elf -ex 'target remote :1234'" in proc.stderr
    assert args_file.read_text().splitlines()[-2:] == ["-s", "-S"]


def test_run_options_reach_qemu(monkeypatch, fake_root: Path, tmp_path: Path, in_process: InProcess):
    args_file = tmp_path / "args"
    install(monkeypatch, tmp_path / "bin", printing(["moat: stop: success"], 1, args_file))
    module = tmp_path / "mod.bin"
    module.write_bytes(b"x")
    scen = tmp_path / "s.toml"
    scen.write_text('[hypervisor]\nbuild = "moat-selftest"\ncmdline = "from-file"\nmemory = "64M"\n'
                    '[[module]]\npath = "mod.bin"\nargs = "a=1"\n')
    proc = in_process("run", str(scen), "--append", "selftest=timer", "--icount", "--memory", "256M", root=fake_root)
    assert proc.returncode == 0, proc.stderr
    args = args_file.read_text().splitlines()
    assert args[args.index("-kernel") + 1] == "build/hv/moat-selftest.bin"
    assert args[args.index("-append") + 1] == "selftest=timer"
    assert args[args.index("-m") + 1] == "256M"
    # The scenario's module, then the default security policy (the hypervisor needs one).
    first, policy = args[args.index("-initrd") + 1].split(",")
    assert first == f"{module} a=1"
    assert policy.endswith(".bin policy") and "/build/policies/default-policy-" in policy
    assert "-icount" in args


def test_kvm_without_dev_kvm(fake_root: Path, in_process: InProcess):
    if kvm_usable():
        pytest.skip("/dev/kvm works here")
    proc = in_process("run", "--kvm", root=fake_root)
    assert proc.returncode == 3
    assert "/dev/kvm" in proc.stderr


def test_scenario_errors(fake_root: Path, tmp_path: Path, in_process: InProcess):
    scen = tmp_path / "bad.toml"
    scen.write_text("[hypervisor]\nbild = 'moat'\n")
    proc = in_process("run", str(scen), root=fake_root)
    assert proc.returncode == 3
    assert f"{scen}: hypervisor.bild: unknown key" in proc.stderr
    proc = in_process("run", str(tmp_path / "none.toml"), root=fake_root)
    assert proc.returncode == 3 and "no such scenario file" in proc.stderr


def test_bad_usage(tmp_path: Path):
    assert moat("frobnicate", root=tmp_path).returncode == 3
    assert moat("run", "--memory", "lots", root=tmp_path).returncode == 3
    assert moat("run", "--bogus", root=tmp_path).returncode == 3


def test_image_commands(tmp_path: Path, in_process: InProcess):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    proc = in_process("image", "inspect", str(text), root=tmp_path)
    assert proc.returncode == 3 and "not an ELF file" in proc.stderr
    good = build(tmp_path, "good")
    proc = in_process("image", "inspect", str(good), root=tmp_path)
    assert proc.returncode == 0 and "entry:" in proc.stdout
    assert re.search(r"^symbols:  \d+ \(3 functions\)$", proc.stdout, re.M), proc.stdout
    assert in_process("image", "check", str(good), root=tmp_path).returncode == 0
    bad = build(tmp_path, "omagic", "-N")
    proc = in_process("image", "check", str(bad), root=tmp_path)
    assert proc.returncode == 1 and "W^X" in proc.stdout
    proc = in_process("image", "check", str(good), "--window", "nonsense", root=tmp_path)
    assert proc.returncode == 3 and "--window" in proc.stderr


def test_symbolize_command(tmp_path: Path, in_process: InProcess):
    elf = build(tmp_path, "tiny")
    from .elfs import symbols

    addr = symbols(elf)["func_a"] + 2
    log = tmp_path / "crash.log"
    log.write_text(f"rip=0x{addr:016x}\n")
    proc = in_process("symbolize", "--elf", str(elf), str(log), root=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == f"rip=0x{addr:016x} <func_a+0x2>\n"
    piped = subprocess.run([sys.executable, "-m", "moat", "symbolize", "--elf", str(elf), "-"],
                           input=log.read_text(), capture_output=True, text=True, check=False)
    assert piped.stdout.endswith("<func_a+0x2>\n")
    unbuilt = moat("symbolize", root=tmp_path)  # reads the log from its stdin (here pytest's): a process
    assert unbuilt.returncode == 3 and "run ./moat build first" in unbuilt.stderr


def test_commands_that_are_not_there_are_left_out(monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", {**cli.COMMANDS, "no-such": ("no_such_command", "not there")})
    parser = cli.make_parser()
    assert "run" in parser.format_help()
    assert "no-such" not in parser.format_help()


def test_pytest_args(tmp_path: Path, monkeypatch):
    root = tmp_path
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")
    workers = str(2 * len(os.sched_getaffinity(0)))  # two per CPU this process may use
    assert pytest_args([], root) == [f"--rootdir={root}", "-n", workers, str(root / "tests")]
    assert pytest_args(["-n", "1", "-k", "tests"], root) == [
        f"--rootdir={root}", "-n", "1", "-k", "tests", str(root / "tests")]
    args = pytest_args(["tests/test_x.py::test_a", "-x"], root)
    assert args == [f"--rootdir={root}", "-n", workers, f"{tmp_path}/tests/test_x.py::test_a", "-x"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_run_stops_qemu(monkeypatch, fake_root: Path, tmp_path: Path, sig: signal.Signals):
    """`timeout`, a CI cancel and a closed terminal send SIGTERM or SIGHUP: QEMU must go too."""
    pid_file = tmp_path / "qemu.pid"
    install(monkeypatch, tmp_path / "bin", f"echo $$ > {pid_file}\necho started\nsleep 300\n")
    environ = dict(os.environ, MOAT_ROOT=str(fake_root))
    proc = subprocess.Popen([sys.executable, "-m", "moat", "run", "--no-build", "--timeout", "0"], cwd=fake_root,
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    qemu_pid = int(pid_file.read_text())
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and f"terminated by {sig.name}" in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(qemu_pid):
        time.sleep(0.05)
    survived = _alive(qemu_pid)
    if survived:  # leave nothing running behind a failed test
        os.killpg(qemu_pid, signal.SIGKILL)
    assert not survived, "QEMU survived the signal"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
