# SPDX-License-Identifier: MIT
"""Record which hypervisor code a boot ran: in QEMU itself (a TCG plugin) or from its block log.

When MOAT_COVERAGE names a directory, every boot that moat.qemu.boot() starts (moat run, the
pytest `boot` fixture, moat attest, ...) records the hypervisor's blocks that ran, and at the end
of the boot one JSON record goes into MOAT_COVERAGE/raw/ (write_record()).

Four modes (MOAT_COVERAGE_MODE), measured in docs/coverage.md:
- "plugin" (the default once built): moat's QEMU plugin, build/qemu-plugin/libmoat-cov.so
  (tools/qemu-plugin/moat_cov.c), loaded with `-plugin`. It instruments only the blocks that
  start in the hypervisor's executable segments, notes which ran and, for a block ending in a
  conditional jump, notes which successor ran right after it on the same vCPU; at QEMU's exit it
  writes a small text file (read_plugin_output()). Exact blocks and instructions (like "asm") and
  exact branch outcomes (like "nochain"), with no text log: close to a plain boot's time. It
  writes only when QEMU exits, so under this mode a boot is stopped with SIGTERM first
  (kill_group()): QEMU then shuts down cleanly and the plugin gets to write.

The other three are QEMU's block logs, restricted by `-dfilter` to the hypervisor's executable
segments and written (`-D`) into a FIFO. A separate process (`python -m moat.coverage_trace`, see
reduce()) reads the FIFO as QEMU writes it and keeps only what is new.
- "asm": `-d in_asm`. TCG translates a block right before it first runs it and
  logs its instructions then, so the record holds every block that ran and exactly which
  instructions it was made of. No edges: a conditional jump's outcome is inferred from the
  blocks that started at its successors (moat.coverage_map). About as fast as a plain boot.
- "chain" (the default without the plugin): `-d exec` with block chaining on. QEMU logs a
  block each time it is entered from its main loop or an indirect jump (every `ret`), and
  `Linking TBs A index n -> B` once for each direct jump it chains, which gives the edges of
  jumps within one page. A hypercall-heavy boot logs tens of millions of lines: up to 10 times
  slower.
- "nochain": `-d exec,nochain`: every block execution is logged, and consecutive blocks of one
  CPU are the edges. Exact for every edge, and the slowest (about 20 times a plain boot).

MOAT_COVERAGE_TEST (the pytest plugin sets it to the test id) names the record's test.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from moat.errors import UserError
from moat.outputs import write_atomically

ENV_DIR = "MOAT_COVERAGE"
ENV_MODE = "MOAT_COVERAGE_MODE"
ENV_TEST = "MOAT_COVERAGE_TEST"
ENV_PLUGIN = "MOAT_COVERAGE_PLUGIN"  # another plugin file than the build's (tests)
MODES = ("plugin", "asm", "chain", "nochain")
LOG_MODES = ("asm", "chain", "nochain")
QEMU_FLAGS = {"asm": "in_asm", "chain": "exec", "nochain": "exec,nochain"}
PLUGIN_FORMAT = 1
# How long QEMU gets to exit on SIGTERM (and the plugin to write its file) before SIGKILL.
CLEAN_EXIT_SECONDS = 10.0
RECORD_VERSION = 1
# QEMU logs `Linking TBs A -> B` right before it runs B (and logs B's Trace line); with several
# vCPUs other lines may come between. A link whose Trace does not follow within this many lines
# went to a block outside the hypervisor.
LINK_WINDOW = 64

# "Trace 0: 0x7f0a8817d180 [0000000000000000/ffffffff80101000/000000b0/ff000200] sym"
TRACE = re.compile(rb"^Trace (\d+): (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/")
# "0xffffffff80101000:  83 ff 01   cmpl $1, %edi" (an instruction of a block that -d in_asm lists)
ASM = re.compile(rb"^0x([0-9a-f]+):")
# "Stopped execution of TB chain before 0x7f0a8817d180 [ffffffff80101000] " (nochain: that block did not run)
STOPPED_AT = re.compile(rb"^Stopped execution of TB chain before 0x[0-9a-f]+ \[([0-9a-f]+)\]")
# "Linking TBs 0x7f373c000240 index 1 -> 0x7f373c000400"
LINK = re.compile(rb"^Linking TBs (0x[0-9a-f]+) index \d+ -> (0x[0-9a-f]+)")


def enabled() -> bool:
    return bool(os.environ.get(ENV_DIR))


def plugin_path() -> Path:
    """The coverage plugin QEMU loads: $MOAT_COVERAGE_PLUGIN, else the build's."""
    env = os.environ.get(ENV_PLUGIN)
    if env:
        return Path(env)
    from moat import paths

    return paths.build_dir() / "qemu-plugin" / "libmoat-cov.so"


def default_mode() -> str:
    """The plugin when it is built, else QEMU's chained block log."""
    return "plugin" if plugin_path().is_file() else "chain"


def mode() -> str:
    m = os.environ.get(ENV_MODE) or default_mode()
    if m not in MODES:
        raise ValueError(f"{ENV_MODE}={m!r}: expected one of {', '.join(MODES)}")
    return m


def require_plugin() -> Path:
    """The plugin's path, or a clear error when it is not there."""
    so = plugin_path()
    if not so.is_file():
        raise UserError(f"moat coverage: the QEMU plugin {so} is missing: build it (./moat build), or "
                        "record with QEMU's block log instead (--mode chain, or MOAT_COVERAGE_MODE=chain)")
    return so


def plugin_args(so: Path, out: Path, ranges: Sequence[tuple[int, int]]) -> list[str]:
    """QEMU's -plugin option for the coverage plugin (QEMU doubles a comma inside a value)."""
    spec = [str(so).replace(",", ",,"), "out=" + str(out).replace(",", ",,")]
    spec += [f"range={lo:x}-{hi:x}" for lo, hi in ranges]
    return ["-plugin", ",".join(spec)]


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End QEMU (the leader of its own process group) and wait for it. Under the plugin, ask
    first (SIGTERM: QEMU shuts down cleanly and the plugin writes its record), then SIGKILL."""
    if enabled() and proc.poll() is None and _plugin_mode():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=CLEAN_EXIT_SECONDS)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _plugin_mode() -> bool:
    try:
        return mode() == "plugin"
    except ValueError:
        return False


def elf_for(kernel: Path | None, cdrom: Path | None) -> Path | None:
    """The ELF with the symbols and line tables of what QEMU boots (X.bin -> X.elf)."""
    if kernel is not None:
        elf = Path(kernel).with_suffix(".elf")
        return elf if elf.is_file() else None
    if cdrom is not None:
        from moat import paths

        elf = paths.hv_image("moat", elf=True)
        return elf if elf.is_file() else None
    return None


def code_ranges(elf: Path) -> list[tuple[int, int]]:
    """[lo, hi) of every executable loadable segment (the hypervisor's code)."""
    from elftools.elf.constants import P_FLAGS
    from elftools.elf.elffile import ELFFile

    with elf.open("rb") as f:
        ef = ELFFile(f)
        return [(seg["p_vaddr"], seg["p_vaddr"] + seg["p_memsz"]) for seg in ef.iter_segments()
                if seg["p_type"] == "PT_LOAD" and seg["p_flags"] & P_FLAGS.PF_X]


def dfilter(ranges: Sequence[tuple[int, int]]) -> str:
    return ",".join(f"{lo:#x}..{hi - 1:#x}" for lo, hi in ranges)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_counter = 0


def _record_path(out_dir: Path) -> Path:
    global _counter
    _counter += 1
    label = os.environ.get(ENV_TEST) or "run"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")[:150] or "run"
    return out_dir / "raw" / f"{safe}.{os.getpid()}.{_counter}.json"


@dataclass
class _Tracer:
    fifo: Path
    proc: subprocess.Popen[bytes]
    args: list[str] = field(default_factory=list)

    def finish(self, timeout: float = 120.0) -> None:
        """After QEMU has exited: let the reducer see the end of the log and write its record."""
        # QEMU may have died before opening the log: a writer that opens and closes lets the
        # reducer's blocking open return and then read EOF (data QEMU wrote stays in the pipe).
        # The open fails (ENXIO) until the reducer has started opening, so try until it has.
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
                break
            except OSError:
                time.sleep(0.02)
        try:
            self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.fifo.unlink()
            self.fifo.parent.rmdir()


@contextlib.contextmanager
def boot_trace(kernel: Path | None, cdrom: Path | None) -> Iterator[list[str]]:
    """QEMU arguments that record the boot's blocks (none when coverage is off): the plugin's,
    or a block log sent to a reducer."""
    if not enabled():
        yield []
        return
    elf = elf_for(kernel, cdrom)
    if elf is None:
        yield []
        return
    m = mode()
    so = require_plugin() if m == "plugin" else None
    out_dir = Path(os.environ[ENV_DIR]).resolve()
    record = _record_path(out_dir)
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="moat-cov-"))
    if so is not None:
        with _plugin_trace(so, elf, record, tmp) as args:
            yield args
        return
    fifo = tmp / "exec.log"
    os.mkfifo(fifo)
    cmd = [sys.executable, "-m", "moat.coverage_trace", "--fifo", str(fifo), "--out", str(record),
           "--elf", str(elf.resolve()), "--mode", m, "--test", os.environ.get(ENV_TEST, "")]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
    tracer = _Tracer(fifo, proc)
    try:
        yield ["-d", QEMU_FLAGS[m], "-dfilter", dfilter(code_ranges(elf)), "-D", str(fifo)]
    finally:
        tracer.finish()


@contextlib.contextmanager
def _plugin_trace(so: Path, elf: Path, record: Path, tmp: Path) -> Iterator[list[str]]:
    out = tmp / "blocks.txt"
    start = time.monotonic()
    try:
        yield plugin_args(so, out, code_ranges(elf))
    finally:
        try:
            red = read_plugin_output(out.read_text(encoding="ascii"))
        except (OSError, ValueError):
            red = Reduced()  # QEMU never got to exit cleanly: the boot's record is empty
            red.complete = False
        write_record(record, red, elf=elf.resolve(), mode_="plugin", test=os.environ.get(ENV_TEST, ""),
                     seconds=time.monotonic() - start)
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Reduced:
    blocks: set[int] = field(default_factory=set)
    edges: set[tuple[int, int]] = field(default_factory=set)
    ends: dict[int, int] = field(default_factory=dict)  # asm, plugin: block start -> its last instruction
    lines: int = 0
    bytes: int = 0
    complete: bool = True  # plugin: False when QEMU wrote no record (it was killed)


def read_plugin_output(text: str) -> Reduced:
    """The plugin's file (tools/qemu-plugin/moat_cov.c, on_exit_write) as blocks, the last
    instruction of each and the conditional jumps' outcomes as edges (block start -> successor)."""
    lines = text.splitlines()
    head = lines[0].split() if lines else []
    if len(head) < 2 or head[0] != "moat-cov" or head[1] != str(PLUGIN_FORMAT):
        raise ValueError("not a moat coverage plugin record (or another format)")
    r = Reduced(lines=len(lines), bytes=len(text))
    for n, line in enumerate(lines[1:], 2):
        f = line.split()
        if len(f) != 11 or f[0] != "b":
            raise ValueError(f"line {n}: {line!r}: not a block")
        start, last = int(f[1], 16), int(f[2], 16)
        cond, taken, fall, took, fell = int(f[6]), int(f[7], 16), int(f[8], 16), int(f[9]), int(f[10])
        r.blocks.add(start)
        r.ends[start] = max(last, r.ends.get(start, last))
        if cond and took:
            r.edges.add((start, taken))
        if cond and fell:
            r.edges.add((start, fall))
    return r


def reduce(stream: Iterator[bytes], mode_: str) -> Reduced:
    """Keep the distinct blocks and edges of a QEMU exec log (lines as bytes, in order)."""
    r = Reduced()
    blocks, edges = r.blocks, r.edges
    if mode_ == "asm":
        # "IN: sym" starts a block's listing; its instruction lines follow, up to a blank line.
        start: int | None = None
        for line in stream:
            r.lines += 1
            r.bytes += len(line)
            if line.startswith(b"IN:"):
                start = None
                continue
            m = ASM.match(line)
            if m is None:
                continue
            addr = int(m[1], 16)
            if start is None:
                start = addr
                blocks.add(addr)
            if addr > r.ends.get(start, -1):
                r.ends[start] = addr
        return r
    if mode_ == "nochain":
        prev: dict[bytes, int] = {}
        before: dict[bytes, int | None] = {}  # each CPU's block before its last one
        last_cpu: bytes | None = None
        parsed: dict[bytes, tuple[bytes, int] | None] = {}  # a line -> (cpu, pc): lines repeat
        for line in stream:
            r.lines += 1
            r.bytes += len(line)
            if line in parsed:
                got = parsed[line]
            else:
                m = TRACE.match(line)
                got = (m[1], int(m[3], 16)) if m is not None else None
                if len(parsed) < 1 << 20:
                    parsed[line] = got
            if got is None:
                # QEMU logs a block's Trace line before running it, and this line right after when
                # it left the block at its start to see to an event (the block ran none of its
                # instructions): it runs it, and logs it, again afterwards. Without this, the
                # block would seem to follow itself, a loop outcome that never happened.
                # With several CPUs, the one whose last block it names (most likely the last).
                sm = STOPPED_AT.match(line)
                if sm is not None:
                    pc = int(sm[1], 16)
                    cpus = [c for c in ([last_cpu] if last_cpu is not None else []) + list(prev)
                            if prev.get(c) == pc and c in before]
                    if cpus:
                        b = before.pop(cpus[0])
                        if b is None:
                            prev.pop(cpus[0], None)
                        else:
                            prev[cpus[0]] = b
                continue
            cpu, pc = got
            p = prev.get(cpu)
            if p is not None:
                edges.add((p, pc))
            before[cpu] = p
            prev[cpu] = pc
            last_cpu = cpu
            blocks.add(pc)
        return r
    host_pc: dict[bytes, int] = {}          # a translated block's host address -> its guest pc
    # Links to a block whose guest pc its next Trace line gives: host address -> (sources, when).
    pending: dict[bytes, tuple[list[int], int]] = {}
    seen: set[bytes] = set()  # Trace lines already handled: most lines repeat one of them
    for line in stream:
        r.lines += 1
        r.bytes += len(line)
        if not pending and line in seen:
            continue
        if line.startswith(b"T"):
            if len(seen) < 1 << 20:
                seen.add(line)
            m = TRACE.match(line)
            if m is None:
                continue
            pc = int(m[3], 16)
            if host_pc.get(m[2], pc) != pc:
                seen.clear()  # QEMU flushed its translations: host addresses now hold other blocks
            host_pc[m[2]] = pc
            blocks.add(pc)
            waiting = pending.pop(m[2], None)
            if waiting is not None and r.lines - waiting[1] <= LINK_WINDOW:
                for s in waiting[0]:
                    edges.add((s, pc))
        elif line.startswith(b"L"):
            m = LINK.match(line)
            if m is None:
                continue
            src = host_pc.get(m[1])
            if src is None:
                continue  # a block outside the hypervisor's code (firmware, a guest)
            # The target's own Trace line follows (it runs next): resolve its guest pc then, as
            # its host address may have belonged to an older, flushed block until now.
            # A target outside the hypervisor never gets a Trace line: forget old links.
            if len(pending) > 4 * LINK_WINDOW:
                pending = {k: v for k, v in pending.items() if r.lines - v[1] <= LINK_WINDOW}
            pending.setdefault(m[2], ([], r.lines))[0].append(src)
    return r


def write_record(path: Path, red: Reduced, *, elf: Path, mode_: str, test: str, seconds: float) -> None:
    rec = {"version": RECORD_VERSION, "elf": str(elf), "elf_sha256": file_sha256(elf), "mode": mode_,
           "test": test, "seconds": round(seconds, 3), "log_lines": red.lines, "log_bytes": red.bytes,
           "blocks": sorted(red.blocks), "edges": sorted(red.edges),
           "ends": sorted(red.ends.items()), "complete": red.complete}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(rec).encode("utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m moat.coverage_trace",
                                description="Reduce QEMU's exec log from a FIFO into a coverage record.")
    p.add_argument("--fifo", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--elf", type=Path, required=True)
    p.add_argument("--mode", choices=LOG_MODES, default="chain")
    p.add_argument("--test", default="")
    a = p.parse_args(argv)
    start = time.monotonic()
    with a.fifo.open("rb", buffering=1 << 20) as f:
        red = reduce(iter(f), a.mode)
    write_record(a.out, red, elf=a.elf, mode_=a.mode, test=a.test, seconds=time.monotonic() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
