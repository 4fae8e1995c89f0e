# SPDX-License-Identifier: MIT
"""`moat run [SCENARIO] [options] [-- QEMU ARGS]`: build, boot in QEMU, stream, exit with the status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from moat import boot, building, outputs, paths, qemu, scenario, top
from moat.boot import boot_scenario, report  # noqa: F401 -- kept for callers of the earlier API
from moat.errors import UserError

DEFAULT_TIMEOUT = 60.0

DESCRIPTION = """\
Build what is out of date (quietly; --no-build skips it), then boot the hypervisor in QEMU
under TCG (--kvm for hardware virtualization), stream the serial console to stdout and exit
with the system's status. Without SCENARIO it boots build/hv/moat.bin with moat's default
security policy.

reads:  SCENARIO (a TOML scenario, docs/scenarios.md), the policy and guest images it names,
        build/hv/moat.bin (or moat-selftest.bin), QEMU ($QEMU overrides the program)
writes: build/modules/ (the staged boot manifest and images), build/policies/ (compiled
        policies), build/run-iso/ (with --iso, removed after), --log FILE, --json FILE
"""

EPILOG = """\
extra QEMU arguments go after `--`, e.g. moat run hello.toml -- -d int -D qemu.log

exit status: 0 the hypervisor stopped with success; 1 it stopped with failure (a test failed,
a fatal exception, a refused policy); 2 crash or timeout (no `moat: stop:` line, QEMU failed
or was killed); 3 moat could not run it (bad arguments or scenario, nothing built, no QEMU);
128+N when moat got signal N (QEMU is stopped too)
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="build, then boot the hypervisor (or a scenario) in QEMU",
                       usage="moat run [options] [SCENARIO] [-- QEMU ARGS...]", description=DESCRIPTION,
                       epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", type=Path, metavar="SCENARIO",
                   help="scenario file (TOML: [hypervisor] build/cmdline/memory/cpus, [[module]] "
                        "path/args); without one, boot build/hv/moat.bin")
    p.add_argument("--list", action="store_true", help="list the scenarios in the repository; boot nothing")
    p.add_argument("--dry-run", action="store_true", help="print the QEMU command line; boot nothing")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.add_argument("--kvm", action="store_true",
                   help="use KVM instead of TCG (needs a working /dev/kvm; TCG is the default)")
    p.add_argument("--iso", action="store_true",
                   help="boot through GRUB from a rescue ISO (made under build/run-iso/, removed after) "
                        "with the same command line and modules")
    p.add_argument("--gdb", action="store_true",
                   help="wait for gdb on :1234 before the first instruction (-s -S)")
    p.add_argument("--gdb-port", type=int, metavar="PORT", help="like --gdb, on another TCP port")
    p.add_argument("--timeout", type=float, metavar="S",
                   help=f"kill QEMU after S seconds (default {DEFAULT_TIMEOUT:g}; none with "
                        "--gdb; 0 means no timeout)")
    p.add_argument("--log", type=Path, metavar="FILE", help="also write the console to FILE")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="write the verdict, every domain's end and the hypervisor's summary as JSON")
    p.add_argument("--selftest", action="store_true",
                   help="boot the self-test build (build/hv/moat-selftest.bin)")
    p.add_argument("--append", metavar="CMDLINE",
                   help="hypervisor command line (replaces the scenario's)")
    p.add_argument("--module", action="append", default=[], metavar="'FILE [ARGS]'",
                   help="add a multiboot module (repeatable)")
    p.add_argument("--icount", action="store_true",
                   help="deterministic instruction counting: -icount shift=0,sleep=off")
    p.add_argument("--memory", metavar="SIZE", help="QEMU's RAM (default 128M, or the scenario's)")
    p.add_argument("--smp", type=int, metavar="N",
                   help="CPUs (QEMU's -smp; replaces the scenario's [hypervisor] cpus; default 1)")
    p.add_argument("--force", action="store_true",
                   help="boot even when the checks before boot find what the hypervisor will refuse")
    p.add_argument("--top", nargs="?", type=int, const=top.DEFAULT_PERIOD_MS, metavar="MS",
                   help="show a live table of every domain's use, refreshed every MS ms (default "
                        f"{top.DEFAULT_PERIOD_MS}; adds stats=MS to the hypervisor command line); the console "
                        "goes to --log only")
    p.set_defaults(func=run, takes_tail=True, tail=[])


def _module_arg(text: str) -> tuple[Path, str]:
    file, _, args = text.strip().partition(" ")
    path = Path(file)
    if not path.is_file():
        raise UserError(f"--module {text!r}: {file} does not exist")
    return path, args.strip()


def _timeout(args: argparse.Namespace) -> float | None:
    if args.timeout is None:
        return None if (args.gdb or args.gdb_port) else DEFAULT_TIMEOUT
    if args.timeout < 0:
        raise UserError("--timeout must not be negative")
    return float(args.timeout) or None


def resolve(args: argparse.Namespace) -> tuple[scenario.Scenario, str]:
    """The scenario to boot (file or defaults) with the command-line overrides applied."""
    if args.scenario:
        boot.check_scenario_file(args.scenario)
    scen = scenario.load(args.scenario) if args.scenario else scenario.Scenario()
    hv = scen.hypervisor
    if args.selftest:
        hv.build = "moat-selftest"
    if args.append is not None:
        hv.cmdline = args.append
    if args.memory is not None:
        hv.memory = scenario.check_memory(args.memory)
    if getattr(args, "top", None) is not None:
        if not 10 <= args.top <= 60000:
            raise UserError("--top: the period must be 10 to 60000 ms")
        hv.cmdline = f"{hv.cmdline} stats={args.top}".strip()
    if args.smp is not None:
        hv.cpus = qemu.check_cpus(args.smp)
    for text in args.module:
        path, margs = _module_arg(text)
        scen.modules.append(scenario.Module(path=path, args=margs))
    return scen, hv.build


def list_scenarios() -> int:
    for path, about in scenario.list_scenarios():
        print(f"{path}  {about}".rstrip())
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list:
        return list_scenarios()
    if args.log is not None:
        outputs.open_log(args.log)
    if args.json is not None:
        outputs.check_output(args.json, option="--json", make_parents=True)
    if args.gdb_port is not None and not 0 < args.gdb_port < 65536:
        raise UserError("--gdb-port must be 1 to 65535")
    if args.smp is not None:
        qemu.check_cpus(args.smp)  # a bad option is refused before the build, not after it
    if not args.no_build and not args.dry_run:
        building.build_or_fail()
    scen, build = resolve(args)
    paths.require_built(paths.hv_image(build))
    problems = boot.preflight(scen)
    if problems and not args.force:
        raise UserError("\n".join(problems) + "\nnothing was booted (--force boots it anyway)")
    if args.kvm and not qemu.kvm_usable():
        raise UserError("--kvm: /dev/kvm cannot be opened (no KVM here); run without --kvm to use TCG")
    if args.dry_run:
        print(boot.command_line(scen, kvm=args.kvm, icount=args.icount, gdb=args.gdb, gdb_port=args.gdb_port,
                                extra_args=args.tail))
        return 0
    if args.gdb or args.gdb_port:
        elf = paths.display(paths.hv_image(build, elf=True))
        print(f"moat: QEMU waits for gdb; in another terminal run:\n"
              f"  gdb {elf} -ex 'target remote :{args.gdb_port or 1234}'", file=sys.stderr, flush=True)
    meter = top.Meter()

    def echo(line: str) -> None:
        boot.echo(line)
        meter.feed(line)

    def go(on_line: Callable[[str], None]) -> qemu.BootResult:
        return boot.boot_scenario(scen, timeout=_timeout(args), log=args.log, kvm=args.kvm, iso=args.iso,
                                  gdb=args.gdb, gdb_port=args.gdb_port, icount=args.icount, extra_args=args.tail,
                                  on_line=on_line)

    if args.top is not None:
        with top.LiveTop(meter) as live:
            result = go(live.on_line)
    else:
        result = go(echo)
    top.summary(meter)
    status = boot.report(result)
    if args.json is not None:
        boot.write_json(args.json, boot.to_json(result))
    return status
