# SPDX-License-Identifier: MIT
"""Boot a scenario with a TPM (swtpm behind QEMU's tpm-tis) and the agent's serial line (COM2 to a
socket we listen on), in the background, so that a verifier can talk to the agent meanwhile."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from moat import coverage_trace, paths, qemu, scenario
from moat.attest import swtpm
from moat.attest.agent import AgentLink

CONNECT_TIMEOUT = 60.0


@dataclass
class System:
    link: AgentLink
    process: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    log: Path | None = None
    exit_code: int | None = None
    started: float = field(default_factory=time.monotonic)
    _readers: list[threading.Thread] = field(default_factory=list)

    @property
    def console(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    def wait(self, timeout: float | None) -> qemu.Status:
        """Until QEMU exits (the system stopped) or timeout seconds pass (then it is killed)."""
        try:
            self.exit_code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.exit_code = None
        for t in self._readers:
            t.join(timeout=5)
        return qemu.status_from_exit(self.exit_code, qemu.stop_word(self.lines))

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                line = self.lines[seen]
                seen += 1
                if predicate(line):
                    return line
            if self.process.poll() is not None:
                # QEMU has exited, but its last lines may still be in the pipe: the readers end at
                # its end of file. Only once they have, and their lines were looked at, is it over.
                if any(t.is_alive() for t in self._readers):
                    for t in self._readers:
                        t.join(timeout=max(0.0, deadline - time.monotonic()))
                    continue
                if seen >= len(self.lines):
                    return None
                continue
            time.sleep(0.05)
        return None

    def kill(self) -> None:
        if self.process.poll() is None:
            # SIGKILL, but under moat coverage's plugin SIGTERM first (the plugin writes at exit).
            coverage_trace.kill_group(self.process)


@contextlib.contextmanager
def boot(scen_path: Path, *, tpm_name: str, log: Path | None = None, on_line: Callable[[str], None] | None = None,
         fresh_tpm: bool = False, tpm_state: Path | None = None) -> Iterator[System]:
    """Boot scen_path with TPM `tpm_name` (made on first use) and the agent's line; the System is
    killed on exit if it is still running."""
    scen = scenario.load(scen_path)
    root = paths.repo_root()
    kernel = paths.require_built(paths.hv_image(scen.hypervisor.build))
    modules = [(p.resolve(), a) for p, a in scen.module_pairs()]
    state = tpm_state or swtpm.tpm_state(tpm_name, fresh=fresh_tpm)
    sock_dir = Path(tempfile.mkdtemp(prefix="moat-attest-"))
    link = AgentLink(sock_dir)
    try:
        # coverage_trace: the block log under `moat coverage` (no arguments otherwise).
        with swtpm.running(state, sock_dir) as tpm, coverage_trace.boot_trace(kernel, None) as trace_args:
            cmd = qemu.qemu_command(kernel, scen.hypervisor.cmdline, modules, memory=scen.hypervisor.memory,
                                    qemu=qemu.find_qemu(), extra_args=tpm.qemu_args() + link.qemu_args() + trace_args)
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
            log_file = log.open("w", encoding="utf-8") if log is not None else None
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    cwd=root, start_new_session=True)
            system = System(link, proc, log=log)

            def take_line(line: str) -> None:
                system.lines.append(line)
                if on_line is not None:
                    on_line(line)

            def read() -> None:
                assert proc.stdout is not None
                qemu.read_console(proc.stdout, take_line, log_file=log_file)
                if log_file is not None:
                    log_file.close()

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            system._readers.append(reader)
            try:
                link.accept(CONNECT_TIMEOUT)
                yield system
            finally:
                system.kill()
                reader.join(timeout=5)
    finally:
        link.close()
        shutil.rmtree(sock_dir, ignore_errors=True)
