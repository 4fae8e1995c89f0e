# SPDX-License-Identifier: MIT
"""Boot the hypervisor in QEMU and read back what it said and how it stopped.

The command line and the exit-status table are in docs/CONTRACTS.md: the
hypervisor writes one byte to isa-debug-exit (port 0xf4) and QEMU exits with
(byte << 1) | 1, so 1 is success, 3 is failure, anything else is a crash.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import functools
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from moat import coverage_trace, paths
from moat import xtf as xtf_mod
from moat.errors import Terminated, UserError

QEMU = "qemu-system-x86_64"
QEMU_PACKAGE = "qemu-system-x86"
# QEMU's minimal firmware (Debian's qemu-system-data, which qemu-system-x86 depends on). It loads
# a multiboot -kernel and hands it QEMU's ACPI tables and memory map as SeaBIOS does, and reaches
# the hypervisor's entry in a sixth of SeaBIOS's time (0.1 s of CPU less per boot; docs/testing.md).
QBOOT = Path("/usr/share/qemu/qboot.rom")


class Status(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CRASH = "CRASH"
    TIMEOUT = "TIMEOUT"


# What `moat run` exits with for each status.
CLI_EXIT = {Status.SUCCESS: 0, Status.FAILURE: 1, Status.CRASH: 2, Status.TIMEOUT: 2}


_STOP = re.compile(r"^moat: stop: (success|failure)$")

# QEMU's own exit status when it could not start or run the machine (bad arguments, memory it
# cannot get, a file it cannot open): the same number the hypervisor's success byte gives.
QEMU_ERROR_EXIT = 1


def stop_word(lines: Sequence[str]) -> str | None:
    """'success' or 'failure' from the hypervisor's last `moat: stop:` line; None without one."""
    for line in reversed(lines):
        m = _STOP.match(line)
        if m:
            return m.group(1)
    return None


def status_from_exit(exit_code: int | None, stop: str | None = None) -> Status:
    """The system's status from QEMU's exit status (None: killed on timeout) and the stop line.

    Exit status 1 is both the hypervisor's success byte and QEMU's own error status, so
    success and failure count only when the hypervisor said so on its last line
    (`moat: stop: success|failure`, docs/CONTRACTS.md) and the exit status agrees.
    Anything else is a crash.
    """
    if exit_code is None:
        return Status.TIMEOUT
    if exit_code == 1 and stop == "success":
        return Status.SUCCESS
    if exit_code == 3 and stop == "failure":
        return Status.FAILURE
    return Status.CRASH


@dataclass
class BootResult:
    exit_code: int | None
    status: Status
    xtf: xtf_mod.Xtf | None
    xtf_reason: str
    console: str
    log_path: Path | None
    command: list[str] = field(default_factory=list)
    stderr: str = ""
    duration: float = 0.0
    timeout: float | None = None
    stop: str | None = None  # the hypervisor's `moat: stop:` word, None if it never said it

    @property
    def lines(self) -> list[str]:
        return self.console.splitlines()

    @property
    def outcome(self) -> xtf_mod.Outcome:
        return xtf_mod.outcome(self.xtf, self.status.value)

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.lines[-n:])

    def describe(self) -> str:
        """One line: how the system stopped, in plain words."""
        if self.status is Status.TIMEOUT:
            return f"timeout: QEMU still running after {self.timeout:g} s and was killed"
        if self.status is not Status.CRASH:
            return f"{self.status.value.lower()} (QEMU exit status {self.exit_code})"
        said = self.qemu_error()
        if self.exit_code == QEMU_ERROR_EXIT and self.stop is None:
            why = f": {said}" if said else ""
            return (f"crash: QEMU failed (exit status 1, and the hypervisor never printed "
                    f"`moat: stop:`){why}")
        if self.stop is not None:
            return (f"crash: the hypervisor said `moat: stop: {self.stop}` but QEMU exited with "
                    f"status {self.exit_code}")
        if self.exit_code is not None and self.exit_code < 0:
            return f"crash: QEMU was killed by signal {-self.exit_code}"
        return (f"crash: QEMU exited with status {self.exit_code} and the hypervisor never "
                f"printed `moat: stop:` (a reset, a triple fault or QEMU itself)")

    def qemu_error(self) -> str:
        """QEMU's own complaint: the first line it wrote to stderr, if any."""
        for line in self.stderr.splitlines():
            if line.strip():
                return line.strip()
        return ""


def qemu_program() -> str:
    """The QEMU to run: $QEMU when set (a path or a name on PATH), else qemu-system-x86_64."""
    return os.environ.get("QEMU") or QEMU


def find_qemu() -> str:
    """The QEMU binary, or a UserError that says which package to install."""
    wanted = qemu_program()
    path = shutil.which(wanted)
    if path is None:
        if wanted != QEMU:
            raise UserError(f"QEMU={wanted}: no such program (unset QEMU to use {QEMU})")
        raise UserError(f"{QEMU} not found: install it with: apt-get install {QEMU_PACKAGE}")
    return path


def kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


MAX_CPUS = 64  # MOAT_MAX_CPUS in hv/internal/moat/config.h


def check_cpus(cpus: int, what: str = "--smp") -> int:
    """A CPU count for -smp: 1 to MAX_CPUS."""
    if isinstance(cpus, bool) or not isinstance(cpus, int) or not 1 <= cpus <= MAX_CPUS:
        raise UserError(f"{what}: {cpus!r} CPUs; the hypervisor runs on 1 to {MAX_CPUS}")
    return cpus


def initrd_arg(modules: Sequence[tuple[Path, str]]) -> str:
    """QEMU's -initrd value: 'file args,file2'; commas inside are doubled (QEMU's escape)."""
    parts = []
    for path, args in modules:
        text = f"{path} {args}".strip() if args else str(path)
        parts.append(text.replace(",", ",,"))
    return ",".join(parts)


def firmware_args(cdrom: Path | None, extra_args: Sequence[str], qboot: Path = QBOOT) -> list[str]:
    """-bios qboot for a -kernel boot; nothing (QEMU's default, SeaBIOS) where qboot does not serve.

    SeaBIOS stays for a CD (GRUB's ISO: qboot boots no disks), for a machine with a TPM (SeaBIOS
    starts it and measures the boot into it, and the hypervisor extends its event log; qboot does
    neither), when the caller names its own -bios, and where QEMU's package ships no qboot. The
    same rule serves `moat run`, the tests and the benchmarks: users boot what the tests boot.
    """
    if cdrom is not None or "-bios" in extra_args or "-tpmdev" in extra_args or not qboot.is_file():
        return []
    return ["-bios", str(qboot)]


def qemu_command(
    kernel: Path | None,
    cmdline: str,
    modules: Sequence[tuple[Path, str]],
    *,
    memory: str = "128M",
    kvm: bool = False,
    icount: bool = False,
    icount_shift: int = 0,
    gdb: bool = False,
    cdrom: Path | None = None,
    qemu: str = QEMU,
    extra_args: Sequence[str] = (),
    smp: int = 1,
    gdb_port: int | None = None,
    one_thread: bool = False,
) -> list[str]:
    """The QEMU command line of docs/CONTRACTS.md (with -cdrom instead of -kernel for an ISO).

    one_thread: TCG runs every CPU in one host thread, in turn (QEMU's `thread=single`, which
    -icount implies anyway), instead of a host thread per CPU. The hypervisor sees the same CPUs;
    what changes is that no two of them run at the same instant, and that a CPU spinning on a
    lock gives way at its next `pause` instead of burning a host core while the CPU it waits for
    has none (docs/testing.md: for boots whose claim is not about CPUs running truly at once).

    icount_shift: under -icount, each instruction is 2**icount_shift ns of the guests' time (and
    of the TSC's 1 GHz). 0, the default, makes the TSC count instructions; 1 lets a test that
    measures shares of a fixed span of time run it in half the instructions.
    """
    if kvm and icount:
        raise UserError("--icount works only under TCG, not with --kvm")
    if kvm and one_thread:
        raise ValueError("one_thread is a TCG setting")
    check_cpus(smp)
    accel = "kvm" if kvm else "tcg,thread=single" if one_thread else "tcg"
    # -nodefaults: no VGA card, NIC, floppy or CD drive that moat never uses (QEMU starts about
    # 5 ms faster without their set-up and option ROMs); -serial and -cdrom still add theirs.
    cmd = [qemu, "-nodefaults", "-m", memory, "-cpu", "max", "-accel", accel,
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01", *firmware_args(cdrom, extra_args)]
    if smp != 1:
        cmd += ["-smp", str(smp)]
    if icount:
        cmd += ["-icount", f"shift={icount_shift},sleep=off"]
    elif icount_shift:
        raise ValueError("icount_shift without icount")
    if cdrom is not None:
        cmd += ["-cdrom", str(cdrom), "-boot", "d"]
    else:
        if kernel is None:
            raise ValueError("qemu_command needs a kernel or a cdrom")
        cmd += ["-kernel", str(kernel), "-append", cmdline]
        if modules:
            cmd += ["-initrd", initrd_arg(modules)]
    if gdb_port is not None:
        cmd += ["-gdb", f"tcp::{gdb_port}", "-S"]
    elif gdb:
        cmd += ["-s", "-S"]
    cmd += list(extra_args)
    return cmd


def with_default_policy(modules: Sequence[tuple[Path, str]], base: Path) -> list[tuple[Path, str]]:
    """modules, with moat's default policy last when none of them is a policy (the hypervisor needs one)."""
    from moat import bootpolicy

    if bootpolicy.has_policy_module(list(modules), base):
        return list(modules)
    pol = bootpolicy.default_policy(paths.build_dir() / "policies")
    return [*modules, (pol.blob, bootpolicy.POLICY_MODULE_ARGS)]


def boot(
    kernel: Path | None,
    cmdline: str = "",
    modules: Sequence[tuple[Path, str]] = (),
    *,
    timeout: float | None,
    log: Path | None = None,
    memory: str = "128M",
    icount: bool = False,
    icount_shift: int = 0,
    iso: bool = False,
    gdb: bool = False,
    kvm: bool = False,
    cdrom: Path | None = None,
    iso_dir: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    cwd: Path | None = None,
    extra_args: Sequence[str] = (),
    default_policy: bool = True,
    smp: int = 1,
    gdb_port: int | None = None,
    one_thread: bool = False,
) -> BootResult:
    """Boot kernel (or the ISO cdrom) once and wait until QEMU exits or timeout seconds pass.

    iso=True packs kernel, cmdline and modules into a GRUB ISO (in a fresh
    directory under iso_dir, removed afterwards) and boots that. on_line is
    called with every console line as it arrives. On timeout the whole QEMU
    process group is killed. The hypervisor refuses to run without a security
    policy, so unless default_policy is False a boot whose modules include none
    gets moat's default policy (moat.bootpolicy) as its last module. smp is the
    number of CPUs (QEMU's -smp); one_thread runs them all in one host thread, icount_shift is
    -icount's (qemu_command).
    """
    qemu = find_qemu()
    base = Path(cwd) if cwd is not None else Path.cwd()  # relative paths are QEMU's, from cwd
    for path, _ in modules:
        if not (base / path).is_file():
            raise UserError(f"module {path} does not exist")
        if any(c.isspace() for c in str(path)):
            raise UserError(f"module {path!s}: the path has a space, which QEMU's -initrd reads as "
                            "the start of the module's arguments; move or rename the file")
    if default_policy and cdrom is None:
        modules = with_default_policy(modules, base)
    if cdrom is None and kernel is not None and not (base / kernel).is_file():
        raise UserError(f"{kernel} is missing: run ./moat build first")
    if cdrom is not None and not (base / cdrom).is_file():
        raise UserError(f"{cdrom} is missing: run ./moat build first")

    staging: Path | None = None
    try:
        if iso and cdrom is None:
            from moat import iso as iso_mod

            if kernel is None:
                raise ValueError("iso=True needs a kernel")
            iso_base = iso_dir or Path(tempfile.gettempdir())
            iso_base.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix="run-", dir=iso_base))
            cdrom = iso_mod.make_iso(staging / "moat.iso", base / kernel, cmdline,
                                     [(base / path, args) for path, args in modules])
        # With MOAT_COVERAGE set, QEMU's block log goes to a reducer (moat.coverage_trace).
        with coverage_trace.boot_trace(base / kernel if kernel is not None else None,
                                       base / cdrom if cdrom is not None else None) as trace_args:
            cmd = qemu_command(kernel, cmdline, modules, memory=memory, kvm=kvm, icount=icount,
                               icount_shift=icount_shift, gdb=gdb, cdrom=cdrom, qemu=qemu,
                               extra_args=[*extra_args, *trace_args], smp=smp, gdb_port=gdb_port,
                               one_thread=one_thread)
            return _run(cmd, timeout=timeout, log=log, on_line=on_line, cwd=cwd)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


_PR_SET_THP_DISABLE = 41  # prctl(2), Linux 3.15 on


@functools.cache
def _no_transparent_huge_pages() -> None:
    """Makes QEMU, and every other process this one starts from now on, run without transparent
    huge pages (PR_SET_THP_DISABLE is kept across fork and exec; this process's own memory is not
    madvised for them, so it changes nothing here). QEMU asks for huge pages for the guest's RAM,
    and a boot touches most of what it touches once: faulting it in 2 MiB at a time cost the host
    more than 4 KiB pages did, most of all for a big machine (gnt_bigram's 1 GiB domain, which
    the hypervisor clears: 1.6 -> 0.9 s of QEMU's CPU a boot, 2.6 s in a loaded suite), and the
    same within the noise for the suite's 128 MiB boots. Once per process; where prctl is missing
    or refuses, nothing changes."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)


# How long the console reader lets QEMU's output gather in the pipe after each read. QEMU's UART
# writes each character with a system call of its own, and a reader blocked on the pipe wakes for
# each: a 367 KB console (mac/test_malformed.py) took 170,000 reads, 0.3 s of the reader's CPU and
# 0.2 s more of QEMU's than the same boot writing to /dev/null. Gathered for 2 ms, it takes 184
# reads and costs what /dev/null does; a line reaches its reader at most 2 ms later. The pipe
# (64 KiB) holds far more than a UART fills in 2 ms, so QEMU never waits for the reader for it.
CONSOLE_GATHER_SECONDS = 0.002


def console_line(raw: bytes) -> str:
    """One console line as the harness keeps it: decoded, without its line end or carriage returns."""
    return raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\r", "")


def read_console(stream: IO[bytes], on_line: Callable[[str], None], *, log_file: TextIO | None = None,
                 done: threading.Event | None = None) -> None:
    """Hand each line of stream (QEMU's console) to on_line until its end of file, the last one
    without its line end too, and write each to log_file (flushed after every read, so a boot
    killed on its timeout leaves all it said). After each read the reader waits
    CONSOLE_GATHER_SECONDS, or until done is set (QEMU has exited: read the rest at once)."""
    def take(raw: bytes) -> None:
        line = console_line(raw)
        if log_file is not None:
            log_file.write(line + "\n")
        on_line(line)

    fd = stream.fileno()
    pending = b""
    while chunk := os.read(fd, 1 << 16):
        *complete, pending = (pending + chunk).split(b"\n")
        for raw in complete:
            take(raw)
        if log_file is not None:
            log_file.flush()
        if done is None:
            time.sleep(CONSOLE_GATHER_SECONDS)
        else:
            done.wait(CONSOLE_GATHER_SECONDS)
    if pending:
        take(pending)
        if log_file is not None:
            log_file.flush()


def _run(
    cmd: list[str],
    *,
    timeout: float | None,
    log: Path | None,
    on_line: Callable[[str], None] | None,
    cwd: Path | None,
) -> BootResult:
    lines: list[str] = []
    err_chunks: list[str] = []
    log_file = None
    if log is not None:
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log_file = log.open("w", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{log}: cannot write the console log: {exc.strerror or exc}") from None

    _no_transparent_huge_pages()
    start = time.monotonic()
    with _terminate_as_exception() as signals:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd, start_new_session=True)

        exited = threading.Event()

        def take_line(line: str) -> None:
            lines.append(line)
            if on_line is not None:
                on_line(line)

        def console_reader() -> None:
            assert proc.stdout is not None
            read_console(proc.stdout, take_line, log_file=log_file, done=exited)

        def read_stderr() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                err_chunks.append(raw.decode("utf-8", errors="replace"))

        readers = [threading.Thread(target=console_reader, daemon=True),
                   threading.Thread(target=read_stderr, daemon=True)]
        exit_code: int | None
        try:
            # The readers start before the signals are armed: an exception raised by the handler
            # inside Thread.start() would leave the thread module's locks half taken. A signal
            # that comes meanwhile is remembered, and arm() raises it.
            for t in readers:
                t.start()
            signals.arm()  # from here a SIGTERM or SIGHUP raises Terminated (also one that came already)
            exit_code = _wait(proc, timeout)
        except subprocess.TimeoutExpired:
            exit_code = None
        finally:
            signals.disarm()  # nothing may interrupt the clean-up (the joins below take locks too)
            # QEMU runs in its own session (so a Ctrl-C reaches only moat): whatever ends the wait,
            # a timeout, Ctrl-C, SIGTERM or SIGHUP, its whole process group goes with it.
            if proc.poll() is None:
                _kill_group(proc)
            exited.set()
            for t in readers:
                if t.is_alive() or t.ident is not None:
                    t.join(timeout=5)
            if log_file is not None:
                log_file.close()
        if signals.pending is not None:  # it came during the clean-up: QEMU is gone, now say so
            raise Terminated(signals.pending)

    console = "\n".join(lines) + ("\n" if lines else "")
    parsed = xtf_mod.parse(console)
    return BootResult(
        exit_code=exit_code,
        status=status_from_exit(exit_code, stop_word(lines)),
        xtf=parsed.result if parsed else None,
        xtf_reason=parsed.reason if parsed else "",
        console=console,
        log_path=log,
        command=cmd,
        stderr="".join(err_chunks),
        duration=time.monotonic() - start,
        timeout=timeout,
        stop=stop_word(lines),
    )


# A finite timeout for each of _wait's calls to Popen.wait (any finite one polls; see _wait).
_WAIT_ROUND_SECONDS = 60.0


def _wait(proc: subprocess.Popen[bytes], timeout: float | None) -> int:
    """proc.wait(timeout), never as one blocking waitpid(): a signal must stop it while QEMU runs.

    Python runs a signal handler only when the main thread next runs bytecode. A SIGTERM that the
    kernel hands to another thread (a console reader), or that comes after the main thread's last
    check and before waitpid() starts (a window that coverage.py's tracer widens and a loaded
    machine hits), interrupts no system call: a blocking waitpid() would hold the handler until
    QEMU exits by itself, maybe never (`moat run --timeout 0`). Popen.wait with a timeout polls
    (waitpid with WNOHANG and sleeps of at most 50 ms, as its documentation says), and the handler
    runs after the sleep it came in.
    """
    pidfd = _pidfd(proc)
    if pidfd is None:
        if timeout is not None:
            return proc.wait(timeout=timeout)
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return proc.wait(timeout=_WAIT_ROUND_SECONDS)
    # Where Linux gives a pidfd (5.3 and later), it becomes readable the moment QEMU exits, so the
    # wait ends then, not at the end of Popen.wait's next sleep (up to 50 ms, on each of the
    # suite's 500-odd boots); the 50 ms rounds keep the signal latency above.
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        while True:
            code = proc.poll()
            if code is not None:
                return code
            left = _SIGNAL_ROUND_SECONDS if deadline is None else min(_SIGNAL_ROUND_SECONDS,
                                                                        deadline - time.monotonic())
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout or 0.0)
            poller.poll(max(1, int(left * 1000)))
    finally:
        os.close(pidfd)


_SIGNAL_ROUND_SECONDS = 0.05  # the longest a signal handed to another thread waits (see _wait)


def _pidfd(proc: subprocess.Popen[bytes]) -> int | None:
    """A pidfd of proc (readable once it has exited), or None where the system has none."""
    try:
        return os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return None


class _Signals:
    """SIGTERM and SIGHUP while QEMU runs: remembered until arm(), then raised as Terminated."""

    def __init__(self) -> None:
        self.armed = False
        self.pending: int | None = None

    def handler(self, signum: int, frame: object) -> None:
        if self.armed:
            raise Terminated(signum)
        self.pending = signum

    def arm(self) -> None:
        self.armed = True
        if self.pending is not None:
            raise Terminated(self.pending)

    def disarm(self) -> None:
        self.armed = False


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[_Signals]:
    """Turn SIGTERM and SIGHUP into a Terminated exception while QEMU runs (main thread only).

    `timeout`, a CI cancel and a closed terminal send these; without the handler Python would
    die at once and leave QEMU, in its own session, spinning. A signal that comes before QEMU
    is started waits until the caller can stop it (arm()).
    """
    signals = _Signals()
    if threading.current_thread() is not threading.main_thread():
        yield signals
        return
    old = {sig: signal.signal(sig, signals.handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield signals
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # SIGKILL, but under moat coverage's plugin SIGTERM first, so that the plugin writes its record.
    coverage_trace.kill_group(proc)
