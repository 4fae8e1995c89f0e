# SPDX-License-Identifier: MIT
"""Booting a scenario for the commands (run, demo): checks before boot, the boot, the report.

preflight() catches what the hypervisor would refuse at boot, naming the domain: domains that
cannot fit QEMU's memory, raw labels the policy lacks, event-channel limits above the
hypervisor's. boot_scenario() stages the modules and boots with the console echoed as it
arrives; report() says in plain words how the system stopped and returns `moat run`'s status.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from moat import console, paths, qemu, scenario
from moat.errors import UserError

TAIL_LINES = 20
EVTCHN_MAX_PORTS = 4096  # EVTCHN_MAX_PORTS in hv/include/public/event_channel.h
# What the hypervisor itself needs of QEMU's memory before any domain: the first MiB, its image,
# frame table and boot modules (`frames:` shows about 3.6 MiB used of 128 MiB), with room to spare;
# and per domain, page tables, start info, grant and event-channel pages beside its memory.
HV_RESERVE_KIB = 6 * 1024
PER_DOMAIN_KIB = 64


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def qemu_memory_kib(text: str) -> int:
    """QEMU's -m value ("128M", "1G") in KiB."""
    return int(text[:-1]) << (10 if text[-1] == "M" else 20)


def preflight(scen: scenario.Scenario) -> list[str]:
    """What the hypervisor would refuse in this scenario, one sentence per problem, naming the domain."""
    problems: list[str] = []
    if not scen.domains:
        return problems
    where = str(scen.path or "scenario")
    have = qemu_memory_kib(scen.hypervisor.memory) - HV_RESERVE_KIB
    need = sum(d.memory_kib + PER_DOMAIN_KIB for d in scen.domains)
    if need > have:
        biggest = sorted(scen.domains, key=lambda d: -d.memory_kib)[:3]
        names = ", ".join(f"{d.name!r} {d.memory}" for d in biggest)
        problems.append(f"{where}: the domains need about {_mib(need)} but QEMU's {scen.hypervisor.memory} leaves "
                        f"about {_mib(have)} after the hypervisor (largest: {names}); raise [hypervisor] memory "
                        "or --memory, or give the domains less")
    for i, d in enumerate(scen.domains):
        if d.max_evtchn > EVTCHN_MAX_PORTS:
            problems.append(f"{where}: domain[{i}] {d.name!r}: max_evtchn = {d.max_evtchn} is above the "
                            f"hypervisor's {EVTCHN_MAX_PORTS} event-channel ports")
    problems += _raw_labels(scen, where)
    return problems


def _raw_labels(scen: scenario.Scenario, where: str) -> list[str]:
    """Raw ssidrefs whose rows the policy does not have (the hypervisor answers -EINVAL)."""
    raw = [(i, d) for i, d in enumerate(scen.domains) if isinstance(d.label, int)]
    if not raw:
        return []
    from moat import manifest

    pol = manifest.scenario_policy(scen, paths.build_dir())
    rows = len(pol.labels) + 1  # VM rows, with __UNLABELED__
    out = []
    for i, d in raw:
        assert isinstance(d.label, int)
        chw, ste = d.label & 0xFFFF, d.label >> 16
        if chw >= rows or ste >= rows:
            labels = ", ".join(f"{n} {s:#010x}" for n, s in sorted(pol.labels.items(), key=lambda kv: kv[1]))
            out.append(f"{where}: domain[{i}] {d.name!r}: label {d.label:#010x} is not a label of the policy, "
                       f"which has {rows} VM rows ({labels}); the hypervisor would refuse it with -EINVAL")
    return out


def boot_scenario(scen: scenario.Scenario, *, timeout: float | None, log: Path | None = None,
                  kvm: bool = False, iso: bool = False, gdb: bool = False, icount: bool = False,
                  gdb_port: int | None = None, extra_args: Sequence[str] = (),
                  on_line: Callable[[str], None] | None = None) -> qemu.BootResult:
    """Boot a scenario, echoing the console to stdout as it arrives (or to on_line)."""
    kernel, modules, root = stage(scen)
    return qemu.boot(kernel, scen.hypervisor.cmdline, modules, timeout=timeout, log=log,
                     memory=scen.hypervisor.memory, icount=icount, iso=iso, gdb=gdb, kvm=kvm,
                     gdb_port=gdb_port, iso_dir=paths.build_dir() / "run-iso", on_line=on_line or echo,
                     cwd=root, extra_args=extra_args, smp=scen.hypervisor.cpus or 1)


def echo(line: str) -> None:
    """A console line to stdout, with what it means to stderr when the console can tell."""
    print(line, flush=True)
    note = console.explain_line(line)
    if note:
        print(note, file=sys.stderr, flush=True)


def stage(scen: scenario.Scenario) -> tuple[Path, list[tuple[Path, str]], Path]:
    """The kernel and the staged modules of a scenario, relative to the repository root."""
    root = paths.repo_root()
    kernel = paths.require_built(paths.hv_image(scen.hypervisor.build))
    # QEMU runs in the repository root and gets paths relative to it where it can, so
    # the command line and module strings the hypervisor prints stay short.
    modules = [(_short(path.resolve(), root), args) for path, args in scen.module_pairs()]
    return _short(kernel, root), modules, root


def command_line(scen: scenario.Scenario, *, kvm: bool = False, icount: bool = False, gdb: bool = False,
                 gdb_port: int | None = None, extra_args: Sequence[str] = ()) -> str:
    """The QEMU command `moat run` would start (run from the repository root), shell-quoted."""
    kernel, modules, root = stage(scen)
    modules = qemu.with_default_policy(modules, root)
    cmd = qemu.qemu_command(kernel, scen.hypervisor.cmdline, modules, memory=scen.hypervisor.memory,
                            kvm=kvm, icount=icount, gdb=gdb, gdb_port=gdb_port, qemu=qemu.qemu_program(),
                            extra_args=extra_args, smp=scen.hypervisor.cpus or 1)
    return f"cd {shlex.quote(str(root))} && {shlex.join(cmd)}"


def _short(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return path


def report(result: qemu.BootResult) -> int:
    """Say how the system stopped (with the console tail on a timeout); return the exit status."""
    if result.stderr.strip():
        print(result.stderr.rstrip(), file=sys.stderr)
    if result.status is qemu.Status.TIMEOUT:
        print(f"moat: {result.describe()}; the last {TAIL_LINES} console lines:", file=sys.stderr)
        print(result.tail(TAIL_LINES) or "  (no console output)", file=sys.stderr)
    else:
        print(f"moat: system stopped: {result.describe()}", file=sys.stderr)
    return qemu.CLI_EXIT[result.status]


def to_json(result: qemu.BootResult) -> dict[str, Any]:
    """`moat run --json`: the verdict, every domain's end and the hypervisor's summary."""
    return {
        "status": result.status.value,
        "exit_status": qemu.CLI_EXIT[result.status],
        "verdict": result.describe(),
        "qemu_exit_status": result.exit_code,
        "stop_line": result.stop,
        "xtf": result.xtf.value if result.xtf else None,
        "xtf_reason": result.xtf_reason or None,
        "outcome": result.outcome.value,
        **console.summarize(result.lines).to_json(),
        "duration_s": round(result.duration, 3),
        "log": str(result.log_path) if result.log_path else None,
        "qemu_command": result.command,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    from moat.outputs import write_file

    write_file(path, json.dumps(data, indent=2) + "\n")


def check_scenario_file(path: Path) -> None:
    """A UserError that says what the file is when `moat run` is given something else."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return  # scenario.load says it is missing
    from moat.policy import is_blob

    if is_blob(head):
        raise UserError(f"{path} is a compiled security policy, not a scenario; boot it with "
                        f"`moat run --module '{path} policy'`, or name its source in a scenario's "
                        "`policy = ...` (docs/scenarios.md)")
    text = head.decode("utf-8", "replace")
    if path.suffix == ".xml" or text.lstrip().startswith("<"):
        raise UserError(f"{path} is XML (a security policy?), not a scenario: a scenario is a TOML file; "
                        f"name the policy in one (`policy = \"{path.name}\"`, docs/scenarios.md) or check it "
                        f"with `moat policy check {path}`")
    if any(line.strip() in ("[policy]", "[types]", "[[vm]]") for line in text.splitlines()):
        raise UserError(f"{path} is a security policy (TOML), not a scenario: name it in a scenario "
                        f"(`policy = \"{path.name}\"`, docs/scenarios.md) or check it with "
                        f"`moat policy check {path}`")
