# SPDX-License-Identifier: MIT
"""Boot the hypervisor in QEMU and read back what it said and how it stopped.

The command line and the exit-status table are in docs/CONTRACTS.md: the
hypervisor writes one byte to isa-debug-exit (port 0xf4) and QEMU exits with
(byte << 1) | 1, so 1 is success, 3 is failure, anything else is a crash.
"""

from __future__ import annotations

import contextlib
import enum
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from moat import coverage_trace, paths
from moat import xtf as xtf_mod
from moat.errors import UserError

QEMU = "qemu-system-x86_64"
QEMU_PACKAGE = "qemu-system-x86"


class Status(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CRASH = "CRASH"
    TIMEOUT = "TIMEOUT"


# What `moat run` exits with for each status.
CLI_EXIT = {Status.SUCCESS: 0, Status.FAILURE: 1, Status.CRASH: 2, Status.TIMEOUT: 2}


def status_from_exit(exit_code: int | None) -> Status:
    """Map QEMU's exit status (None: we killed it on timeout) to the system's status."""
    if exit_code is None:
        return Status.TIMEOUT
    if exit_code == 1:
        return Status.SUCCESS
    if exit_code == 3:
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

    @property
    def lines(self) -> list[str]:
        return self.console.splitlines()

    @property
    def outcome(self) -> xtf_mod.Outcome:
        return xtf_mod.outcome(self.xtf, self.status.value)

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.lines[-n:])

    def describe(self) -> str:
        """One line: how the system stopped."""
        if self.status is Status.TIMEOUT:
            return f"timeout: QEMU still running after {self.timeout:g} s and was killed"
        if self.status is Status.CRASH:
            return f"crash: QEMU exited with status {self.exit_code} (no isa-debug-exit write)"
        return f"{self.status.value.lower()} (QEMU exit status {self.exit_code})"


def find_qemu() -> str:
    """The QEMU binary, or a UserError that says which package to install."""
    path = shutil.which(QEMU)
    if path is None:
        raise UserError(f"{QEMU} not found: install it with: apt-get install {QEMU_PACKAGE}")
    return path


def kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def initrd_arg(modules: Sequence[tuple[Path, str]]) -> str:
    """QEMU's -initrd value: 'file args,file2'; commas inside are doubled (QEMU's escape)."""
    parts = []
    for path, args in modules:
        text = f"{path} {args}".strip() if args else str(path)
        parts.append(text.replace(",", ",,"))
    return ",".join(parts)


def qemu_command(
    kernel: Path | None,
    cmdline: str,
    modules: Sequence[tuple[Path, str]],
    *,
    memory: str = "128M",
    kvm: bool = False,
    icount: bool = False,
    gdb: bool = False,
    cdrom: Path | None = None,
    qemu: str = QEMU,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The QEMU command line of docs/CONTRACTS.md (with -cdrom instead of -kernel for an ISO)."""
    if kvm and icount:
        raise UserError("--icount works only under TCG, not with --kvm")
    cmd = [qemu, "-m", memory, "-cpu", "max", "-accel", "kvm" if kvm else "tcg",
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"]
    if icount:
        cmd += ["-icount", "shift=0,sleep=off"]
    if cdrom is not None:
        cmd += ["-cdrom", str(cdrom), "-boot", "d"]
    else:
        if kernel is None:
            raise ValueError("qemu_command needs a kernel or a cdrom")
        cmd += ["-kernel", str(kernel), "-append", cmdline]
        if modules:
            cmd += ["-initrd", initrd_arg(modules)]
    if gdb:
        cmd += ["-s", "-S"]
    cmd += list(extra_args)
    return cmd


def boot(
    kernel: Path | None,
    cmdline: str = "",
    modules: Sequence[tuple[Path, str]] = (),
    *,
    timeout: float | None,
    log: Path | None = None,
    memory: str = "128M",
    icount: bool = False,
    iso: bool = False,
    gdb: bool = False,
    kvm: bool = False,
    cdrom: Path | None = None,
    iso_dir: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    cwd: Path | None = None,
    extra_args: Sequence[str] = (),
    default_policy: bool = True,
) -> BootResult:
    """Boot kernel (or the ISO cdrom) once and wait until QEMU exits or timeout seconds pass.

    iso=True packs kernel, cmdline and modules into a GRUB ISO (in a fresh
    directory under iso_dir, removed afterwards) and boots that. on_line is
    called with every console line as it arrives. On timeout the whole QEMU
    process group is killed. The hypervisor refuses to run without a security
    policy, so unless default_policy is False a boot whose modules include none
    gets moat's default policy (moat.bootpolicy) as its last module.
    """
    qemu = find_qemu()
    base = Path(cwd) if cwd is not None else Path.cwd()  # relative paths are QEMU's, from cwd
    for path, _ in modules:
        if not (base / path).is_file():
            raise UserError(f"module {path} does not exist")
    if default_policy and cdrom is None:
        from moat import bootpolicy

        if not bootpolicy.has_policy_module(list(modules), base):
            pol = bootpolicy.default_policy(paths.build_dir() / "policies")
            modules = [*modules, (pol.blob, bootpolicy.POLICY_MODULE_ARGS)]
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
                               gdb=gdb, cdrom=cdrom, qemu=qemu, extra_args=[*extra_args, *trace_args])
            return _run(cmd, timeout=timeout, log=log, on_line=on_line, cwd=cwd)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


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
        log.parent.mkdir(parents=True, exist_ok=True)
        log_file = log.open("w", encoding="utf-8")

    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, start_new_session=True)

    def read_console() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\r", "")
            lines.append(line)
            if log_file is not None:
                log_file.write(line + "\n")
                log_file.flush()
            if on_line is not None:
                on_line(line)

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            err_chunks.append(raw.decode("utf-8", errors="replace"))

    readers = [threading.Thread(target=read_console, daemon=True),
               threading.Thread(target=read_stderr, daemon=True)]
    for t in readers:
        t.start()

    exit_code: int | None
    try:
        exit_code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        exit_code = None
    finally:
        if proc.poll() is None:
            _kill_group(proc)
        for t in readers:
            t.join(timeout=5)
        if log_file is not None:
            log_file.close()

    console = "\n".join(lines) + ("\n" if lines else "")
    parsed = xtf_mod.parse(console)
    return BootResult(
        exit_code=exit_code,
        status=status_from_exit(exit_code),
        xtf=parsed.result if parsed else None,
        xtf_reason=parsed.reason if parsed else "",
        console=console,
        log_path=log,
        command=cmd,
        stderr="".join(err_chunks),
        duration=time.monotonic() - start,
        timeout=timeout,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
