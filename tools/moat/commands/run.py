# SPDX-License-Identifier: MIT
"""`moat run [SCENARIO]`: boot the hypervisor in QEMU, stream its console, exit with its status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moat import paths, qemu, scenario
from moat.errors import UserError

DEFAULT_TIMEOUT = 60.0
TAIL_LINES = 20


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help="boot the hypervisor (or a scenario) in QEMU",
        description="Boot the hypervisor in QEMU under TCG (the default; --kvm for hardware "
                    "virtualization), stream the serial console and exit with the system's "
                    "status: 0 success, 1 failure, 2 crash or timeout.",
        allow_abbrev=False)
    p.add_argument("scenario", nargs="?", type=Path, metavar="SCENARIO",
                   help="scenario file (TOML: [hypervisor] build/cmdline/memory, [[module]] "
                        "path/args); without one, boot build/hv/moat.bin")
    p.add_argument("--kvm", action="store_true",
                   help="use KVM instead of TCG (needs a working /dev/kvm; TCG is the default)")
    p.add_argument("--iso", action="store_true",
                   help="boot through GRUB from a per-run rescue ISO with the same command "
                        "line and modules")
    p.add_argument("--gdb", action="store_true",
                   help="wait for gdb on :1234 before the first instruction (-s -S)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help=f"kill QEMU after S seconds (default {DEFAULT_TIMEOUT:g}; none with "
                        "--gdb; 0 means no timeout)")
    p.add_argument("--log", type=Path, metavar="FILE", help="also write the console to FILE")
    p.add_argument("--selftest", action="store_true",
                   help="boot the self-test build (build/hv/moat-selftest.bin)")
    p.add_argument("--append", metavar="CMDLINE",
                   help="hypervisor command line (replaces the scenario's)")
    p.add_argument("--module", action="append", default=[], metavar="'FILE [ARGS]'",
                   help="add a multiboot module (repeatable)")
    p.add_argument("--icount", action="store_true",
                   help="deterministic instruction counting: -icount shift=0,sleep=off")
    p.add_argument("--memory", metavar="SIZE", help="guest RAM (default 128M)")
    p.set_defaults(func=run)


def _module_arg(text: str) -> tuple[Path, str]:
    file, _, args = text.strip().partition(" ")
    path = Path(file)
    if not path.is_file():
        raise UserError(f"--module {text!r}: {file} does not exist")
    return path, args.strip()


def _timeout(args: argparse.Namespace) -> float | None:
    if args.timeout is None:
        return None if args.gdb else DEFAULT_TIMEOUT
    if args.timeout < 0:
        raise UserError("--timeout must not be negative")
    return args.timeout or None


def resolve(args: argparse.Namespace) -> tuple[scenario.Scenario, str]:
    """The scenario to boot (file or defaults) with the command-line overrides applied."""
    scen = scenario.load(args.scenario) if args.scenario else scenario.Scenario()
    hv = scen.hypervisor
    if args.selftest:
        hv.build = "moat-selftest"
    if args.append is not None:
        hv.cmdline = args.append
    if args.memory is not None:
        hv.memory = scenario.check_memory(args.memory)
    for text in args.module:
        path, margs = _module_arg(text)
        scen.modules.append(scenario.Module(path=path, args=margs))
    return scen, hv.build


def run(args: argparse.Namespace) -> int:
    scen, build = resolve(args)
    paths.require_built(paths.hv_image(build))
    if args.kvm and not qemu.kvm_usable():
        raise UserError("--kvm: /dev/kvm cannot be opened (no KVM here); "
                        "run without --kvm to use TCG")
    if args.gdb:
        elf = paths.display(paths.hv_image(build, elf=True))
        print(f"moat: QEMU waits for gdb; in another terminal run:\n"
              f"  gdb {elf} -ex 'target remote :1234'", file=sys.stderr, flush=True)
    result = boot_scenario(scen, timeout=_timeout(args), log=args.log, kvm=args.kvm,
                           iso=args.iso, gdb=args.gdb, icount=args.icount)
    return report(result)


def boot_scenario(scen: scenario.Scenario, *, timeout: float | None, log: Path | None = None,
                  kvm: bool = False, iso: bool = False, gdb: bool = False,
                  icount: bool = False) -> qemu.BootResult:
    """Boot a scenario, echoing the console to stdout as it arrives."""
    hv = scen.hypervisor
    root = paths.repo_root()
    kernel = paths.require_built(paths.hv_image(hv.build))
    # QEMU runs in the repository root and gets paths relative to it where it can, so
    # the command line and module strings the hypervisor prints stay short.
    modules = [(_short(path.resolve(), root), args) for path, args in scen.module_pairs()]

    def echo(line: str) -> None:
        print(line, flush=True)

    return qemu.boot(_short(kernel, root), hv.cmdline, modules, timeout=timeout, log=log,
                     memory=hv.memory, icount=icount, iso=iso, gdb=gdb, kvm=kvm,
                     iso_dir=paths.build_dir() / "run-iso", on_line=echo, cwd=root)


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
