# SPDX-License-Identifier: MIT
"""The console loses nothing while its reader stops reading (hv/arch/x86_64/serial.c).

QEMU's UART writes each character to its backend, here a pipe to the test harness; when the pipe
is full it holds the character back and reports the transmitter busy until the pipe drains. The
hypervisor waits for room before each character, but only for a bounded time (a stuck UART must
not hang it): with a bound of 100,000 polls, a fraction of a second, a harness stalled for longer
on a loaded host got lines with characters missing from their middle, and a test reading them
failed (CI saw `mactpolicy refused` for `mac: setpolicy refused`). The bound is now 10 s of TSC
time. Here the reader stops for 1 s at the first line of `selftest=console` (2,000 numbered
lines of 100 bytes, three times the pipe's 64 KiB) and every line must then arrive whole. The old
bound ran out within 0.15 s (with it put back, a stall of 0.15 s failed here and one of 0.08 s
passed); the vCPU polls the UART all through the stall, at about 0.8 s of host CPU a second, so
the stall is no longer than a margin of several times that needs (3 s before)."""

from __future__ import annotations

import time
from pathlib import Path

from moat import paths, qemu
from moat.pytest_plugin import require_qemu

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
STALL_S = 1.0


def expected_line(n: int) -> str:
    return f"selftest: console {n:04d} " + "".join(DIGITS[(n * 7 + i) % len(DIGITS)] for i in range(72))


def test_a_stalled_console_reader_loses_no_character(tmp_path: Path) -> None:
    require_qemu()
    kernel = paths.hv_image("moat-selftest")
    stalled: list[float] = []

    def stall_once(line: str) -> None:
        if not stalled and line.startswith("selftest: console "):
            start = time.monotonic()
            time.sleep(STALL_S)  # the reader thread: QEMU fills the pipe and must wait for it
            stalled.append(time.monotonic() - start)

    result = qemu.boot(kernel, "selftest=console", timeout=180, log=tmp_path / "boot.log", on_line=stall_once)
    assert stalled and stalled[0] >= STALL_S, result.tail()
    got = [x for x in result.lines if x.startswith("selftest: console ")]
    wrong = [(n, line) for n, line in enumerate(got) if line != expected_line(n)]
    assert not wrong[:1], f"{len(wrong)} lines differ; the first: {wrong[0]}"
    assert len(got) == 2000, result.tail()
    assert result.status is qemu.Status.SUCCESS, result.tail()
