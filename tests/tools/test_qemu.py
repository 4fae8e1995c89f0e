# SPDX-License-Identifier: MIT
"""moat.qemu: the command line, the exit-status table, streaming, logs and timeouts."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from moat import qemu
from moat.errors import Terminated, UserError
from moat.qemu import Status
from moat.xtf import Outcome, Xtf

from .fakeqemu import install, printing


@pytest.mark.parametrize("code,stop,status", [
    (1, "success", Status.SUCCESS), (3, "failure", Status.FAILURE), (0, None, Status.CRASH),
    (2, None, Status.CRASH), (5, None, Status.CRASH), (-9, None, Status.CRASH),
    (None, None, Status.TIMEOUT), (None, "success", Status.TIMEOUT),
    # QEMU's own error status is 1 too: without the hypervisor's stop line it is no success.
    (1, None, Status.CRASH), (3, None, Status.CRASH),
    # The stop line and the exit status must agree.
    (1, "failure", Status.CRASH), (3, "success", Status.CRASH), (0, "success", Status.CRASH),
])
def test_status_from_exit(code, stop, status):
    assert qemu.status_from_exit(code, stop) is status


def test_stop_word_is_the_last_stop_line():
    assert qemu.stop_word(["moat: stop: failure", "x", "moat: stop: success"]) == "success"
    assert qemu.stop_word(["(d1) moat: stop: success"]) is None
    assert qemu.stop_word([]) is None


def test_qemu_error_is_not_success(monkeypatch, tmp_path: Path):
    """QEMU exits with 1 when it cannot start, the status of the hypervisor's success byte."""
    kernel = tmp_path / "moat.bin"
    kernel.write_bytes(b"\0")
    install(monkeypatch, tmp_path / "bin",
            "echo 'qemu-system-x86_64: cannot set up guest memory: Cannot allocate memory' >&2\nexit 1\n")
    result = qemu.boot(kernel, timeout=30)
    assert result.status is Status.CRASH and result.outcome is Outcome.CRASH
    assert "QEMU failed" in result.describe() and "cannot set up guest memory" in result.describe()


def test_cli_exit_codes():
    assert qemu.CLI_EXIT == {Status.SUCCESS: 0, Status.FAILURE: 1, Status.CRASH: 2, Status.TIMEOUT: 2}


def test_command_matches_the_contract():
    cmd = qemu.qemu_command(Path("build/hv/moat.bin"), "a b", [(Path("m1"), "x y"), (Path("m2"), "")])
    assert cmd == ["qemu-system-x86_64", "-nodefaults", "-m", "128M", "-cpu", "max", "-accel", "tcg",
                   "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
                   "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01", *qemu.firmware_args(None, []),
                   "-kernel", "build/hv/moat.bin", "-append", "a b", "-initrd", "m1 x y,m2"]


def test_the_firmware_is_qboot_where_it_serves(tmp_path: Path):
    rom = tmp_path / "qboot.rom"
    assert qemu.firmware_args(None, [], rom) == []  # no qboot shipped: QEMU's default, SeaBIOS
    rom.write_bytes(b"rom")
    assert qemu.firmware_args(None, [], rom) == ["-bios", str(rom)]
    assert qemu.firmware_args(Path("x.iso"), [], rom) == []  # GRUB's CD needs SeaBIOS
    assert qemu.firmware_args(None, ["-tpmdev", "emulator,id=t"], rom) == []  # SeaBIOS starts and measures a TPM
    assert qemu.firmware_args(None, ["-bios", "other.rom"], rom) == []  # the caller's own choice
    if qemu.QBOOT.is_file():
        cmd = qemu.qemu_command(Path("k"), "", [])
        assert cmd[cmd.index("-bios") + 1] == str(qemu.QBOOT)
        assert "-bios" not in qemu.qemu_command(None, "", [], cdrom=Path("x.iso"))


def test_command_options():
    cmd = qemu.qemu_command(Path("k"), "", [], memory="256M", icount=True, gdb=True)
    assert cmd[cmd.index("-m") + 1] == "256M"
    assert cmd[cmd.index("-icount") + 1] == "shift=0,sleep=off"
    shifted = qemu.qemu_command(Path("k"), "", [], icount=True, icount_shift=1)
    assert shifted[shifted.index("-icount") + 1] == "shift=1,sleep=off"
    with pytest.raises(ValueError, match="icount_shift"):
        qemu.qemu_command(Path("k"), "", [], icount_shift=1)
    assert cmd[-2:] == ["-s", "-S"]
    assert "-initrd" not in cmd
    kvm = qemu.qemu_command(Path("k"), "", [], kvm=True)
    assert kvm[kvm.index("-accel") + 1] == "kvm"
    iso = qemu.qemu_command(None, "", [], cdrom=Path("x.iso"))
    assert "-kernel" not in iso and iso[iso.index("-cdrom") + 1] == "x.iso"
    with pytest.raises(UserError, match="icount"):
        qemu.qemu_command(Path("k"), "", [], kvm=True, icount=True)
    # one_thread: every CPU in one host thread (TCG's round-robin), for tests not about parallel CPUs.
    one = qemu.qemu_command(Path("k"), "", [], smp=4, one_thread=True)
    assert one[one.index("-accel") + 1] == "tcg,thread=single" and one[one.index("-smp") + 1] == "4"
    with pytest.raises(ValueError, match="TCG"):
        qemu.qemu_command(Path("k"), "", [], kvm=True, one_thread=True)


def test_initrd_escapes_commas():
    assert qemu.initrd_arg([(Path("a,b"), "x=1,2")]) == "a,,b x=1,,2"


def test_missing_qemu(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="apt-get install qemu-system-x86"):
        qemu.boot(tmp_path / "k", timeout=1)


def test_boot_streams_logs_and_parses(monkeypatch, tmp_path: Path):
    kernel = tmp_path / "moat.bin"
    kernel.write_bytes(b"\0")
    module = tmp_path / "mod"
    module.write_bytes(b"m")
    args_file = tmp_path / "args"
    lines = ["moat 0.1.0 x86-64 hypervisor", "Test result: SUCCESS", "moat: stop: success"]
    install(monkeypatch, tmp_path / "bin", printing(lines, 1, args_file))
    seen: list[str] = []
    log = tmp_path / "logs" / "boot.log"
    result = qemu.boot(kernel, "x=1", [(module, "arg")], timeout=30, log=log, on_line=seen.append)
    assert seen == lines
    assert result.lines == lines
    assert log.read_text() == "\n".join(lines) + "\n"
    assert result.log_path == log
    assert (result.exit_code, result.status, result.xtf) == (1, Status.SUCCESS, Xtf.SUCCESS)
    assert result.outcome is Outcome.SUCCESS
    passed = args_file.read_text().splitlines()
    assert passed[passed.index("-append") + 1] == "x=1"
    first, policy = passed[passed.index("-initrd") + 1].split(",")
    assert first == f"{module} arg"
    assert policy.endswith(".bin policy"), "a boot without a policy module gets the default policy"


def test_boot_without_default_policy_passes_modules_unchanged(monkeypatch, tmp_path: Path):
    kernel = tmp_path / "moat.bin"
    kernel.write_bytes(b"\0")
    module = tmp_path / "mod"
    module.write_bytes(b"m")
    args_file = tmp_path / "args"
    install(monkeypatch, tmp_path / "bin", printing(["moat: stop: success"], 1, args_file))
    qemu.boot(kernel, "", [(module, "arg")], timeout=30, default_policy=False)
    passed = args_file.read_text().splitlines()
    assert passed[passed.index("-initrd") + 1] == f"{module} arg"


def test_boot_keeps_a_policy_module_it_was_given(monkeypatch, tmp_path: Path):
    kernel = tmp_path / "moat.bin"
    kernel.write_bytes(b"\0")
    policy = tmp_path / "mine.bin"
    policy.write_bytes(bytes.fromhex("0001debc") + bytes(56))
    args_file = tmp_path / "args"
    install(monkeypatch, tmp_path / "bin", printing(["moat: stop: success"], 1, args_file))
    qemu.boot(kernel, "", [(policy, "policy")], timeout=30)
    passed = args_file.read_text().splitlines()
    assert passed[passed.index("-initrd") + 1] == f"{policy} policy"


def test_boot_failure_and_crash(monkeypatch, tmp_path: Path):
    kernel = tmp_path / "moat.bin"
    kernel.write_bytes(b"\0")
    install(monkeypatch, tmp_path / "bin", printing(["*** EXCEPTION 6 #UD invalid opcode err=0x0",
                                                     "moat: stop: failure"], 3))
    result = qemu.boot(kernel, timeout=30)
    assert (result.status, result.xtf, result.outcome) == (Status.FAILURE, None, Outcome.CRASH)
    install(monkeypatch, tmp_path / "bin", printing(["Test result: SUCCESS"], 0))
    result = qemu.boot(kernel, timeout=30)
    assert (result.status, result.outcome) == (Status.CRASH, Outcome.CRASH)
    assert "crash" in result.describe()


def test_timeout_kills_the_process_group(monkeypatch, tmp_path: Path):
    kernel = tmp_path / "moat.bin"
    kernel.write_bytes(b"\0")
    pid_file = tmp_path / "child.pid"
    install(monkeypatch, tmp_path / "bin",
            f"echo started\nsleep 300 & echo $! > {pid_file}\nwait\n")
    start = time.monotonic()
    result = qemu.boot(kernel, timeout=1.0)
    assert time.monotonic() - start < 10
    assert result.status is Status.TIMEOUT and result.exit_code is None
    assert result.lines == ["started"]
    assert "timeout" in result.describe()
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child), "QEMU's child survived the timeout"


def test_a_signal_the_main_thread_did_not_catch_still_stops_the_boot(monkeypatch, tmp_path: Path):
    """A SIGTERM taken by another thread (a console reader), or taken just before the main thread
    went into waitpid(), only marks the Python handler as due: the main thread must still get to
    run it while QEMU runs on. Under coverage.py's tracer and a loaded machine the second case hit
    `moat run` often enough (it hung until QEMU exited by itself)."""
    kernel = tmp_path / "moat.bin"
    kernel.write_bytes(b"\0")
    pid_file = tmp_path / "qemu.pid"
    install(monkeypatch, tmp_path / "bin", f"echo $$ > {pid_file}\necho started\nexec sleep 300\n")
    sent: list[float] = []

    def on_line(line: str) -> None:
        # The reader's own thread: give the main thread time to be in its wait, then signal this
        # thread, so the main thread's wait is not interrupted (the kernel's choice, made here).
        time.sleep(0.5)
        sent.append(time.monotonic())
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    def rescue() -> None:  # a hang fails the test instead of lasting 300 s
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)

    timer = threading.Timer(10, rescue)
    timer.start()
    try:
        with pytest.raises(Terminated) as exc:
            qemu.boot(kernel, timeout=None, on_line=on_line)
        stopped = time.monotonic()
    finally:
        timer.cancel()
    assert exc.value.signum == signal.SIGTERM
    assert stopped - sent[0] < 5, "the signal waited for QEMU to exit"
    assert not _alive(int(pid_file.read_text())), "QEMU survived the signal"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_missing_kernel_or_module(monkeypatch, tmp_path: Path):
    install(monkeypatch, tmp_path / "bin", "exit 1\n")
    with pytest.raises(UserError, match=r"run \./moat build first"):
        qemu.boot(tmp_path / "none.bin", timeout=1)
    kernel = tmp_path / "k"
    kernel.write_bytes(b"\0")
    with pytest.raises(UserError, match=r"module .* does not exist"):
        qemu.boot(kernel, modules=[(tmp_path / "nomod", "")], timeout=1)


def test_module_path_with_a_space(monkeypatch, tmp_path: Path):
    install(monkeypatch, tmp_path / "bin", "exit 1\n")
    kernel = tmp_path / "k"
    kernel.write_bytes(b"\0")
    spaced = tmp_path / "my module.bin"
    spaced.write_bytes(b"m")
    with pytest.raises(UserError, match="has a space"):
        qemu.boot(kernel, modules=[(spaced, "")], timeout=1)


def test_qemu_runs_without_transparent_huge_pages(monkeypatch, tmp_path: Path):
    # QEMU inherits PR_SET_THP_DISABLE from the boot (moat.qemu._no_transparent_huge_pages).
    kernel = tmp_path / "moat.bin"
    kernel.write_bytes(b"\0")
    install(monkeypatch, tmp_path / "bin",
            "grep '^THP_enabled:' /proc/self/status\necho 'moat: stop: success'\nexit 1\n")
    result = qemu.boot(kernel, "", [], timeout=30, default_policy=False)
    assert result.lines[:1] == ["THP_enabled:\t0"], result.console


def _reads_by_this_thread() -> int:
    """The read system calls this thread has made (Linux's /proc/thread-self/io, syscr)."""
    for line in Path("/proc/thread-self/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    raise AssertionError("no syscr in /proc/thread-self/io")


def _reads_during(call: Callable[[], None]) -> int:
    """The read system calls this thread makes in call(), without those of counting them."""
    first = _reads_by_this_thread()
    counting = _reads_by_this_thread() - first
    before = _reads_by_this_thread()
    call()
    return _reads_by_this_thread() - before - counting


def test_the_console_reader_gathers_byte_at_a_time_writes_and_keeps_every_line(tmp_path: Path):
    """QEMU's UART writes each character with a system call of its own. The reader must hand over
    every line whole (carriage returns dropped, the last one without its line end too) and log
    each, while reading the pipe in far fewer reads than there are writes: a reader woken for each
    character cost the suite more CPU than the boots it read (qemu.CONSOLE_GATHER_SECONDS)."""
    text = "".join(f"line {n:03d} {'x' * 40}\r\n" for n in range(200)) + "last, no line end"
    data = text.encode()
    r, w = os.pipe()

    def write_each_byte() -> None:
        for i in range(len(data)):
            os.write(w, data[i:i + 1])
        os.close(w)

    seen: list[str] = []
    log = tmp_path / "console.log"
    writer = threading.Thread(target=write_each_byte)
    with os.fdopen(r, "rb") as stream, log.open("w", encoding="utf-8") as log_file:
        writer.start()
        start = time.monotonic()
        reads = _reads_during(lambda: qemu.read_console(stream, seen.append, log_file=log_file))
        took = time.monotonic() - start
    writer.join()
    want = [f"line {n:03d} {'x' * 40}" for n in range(200)] + ["last, no line end"]
    assert seen == want
    assert log.read_text() == "\n".join(want) + "\n"
    # Each read but the last (the end of file) waits CONSOLE_GATHER_SECONDS after it, however fast
    # the writer: a reader woken for each write makes hundreds of reads in the same time.
    assert 0 < reads <= took / qemu.CONSOLE_GATHER_SECONDS + 1, f"{reads} reads in {took:.3f} s"


def test_the_console_reader_does_not_wait_to_gather_once_qemu_has_exited(monkeypatch):
    # done set (QEMU exited): the rest is read at once, not after a gathering wait per read.
    monkeypatch.setattr(qemu, "CONSOLE_GATHER_SECONDS", 2.0)
    r, w = os.pipe()
    os.write(w, b"one\ntwo\n")

    def last_line() -> None:
        os.write(w, b"three\n")
        os.close(w)

    threading.Timer(0.2, last_line).start()
    done = threading.Event()
    done.set()
    seen: list[str] = []
    start = time.monotonic()
    with os.fdopen(r, "rb") as stream:
        qemu.read_console(stream, seen.append, done=done)
    assert seen == ["one", "two", "three"]
    assert time.monotonic() - start < 1.5
