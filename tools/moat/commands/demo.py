# SPDX-License-Identifier: MIT
"""`moat demo`: build, boot the demo scenario and explain what it showed."""

from __future__ import annotations

import argparse
import re
import sys

from moat import paths, qemu, scenario
from moat.commands.build import build_or_fail
from moat.commands.run import boot_scenario, report

DEMO_SCENARIO = "images/demo/demo.toml"
DEMO_TIMEOUT = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="build and boot the demo, then explain what it showed",
                       description=f"Build everything, boot {DEMO_SCENARIO} in QEMU and "
                                   "explain the console output.", allow_abbrev=False)
    p.add_argument("--timeout", type=float, default=DEMO_TIMEOUT, metavar="S",
                   help=f"kill QEMU after S seconds (default {DEMO_TIMEOUT:g})")
    p.set_defaults(func=run)


def explain(console: str) -> list[str]:
    """What the demo showed, in a few sentences built from its console."""
    notes = []
    if m := re.search(r"^moat (\S+) x86-64 hypervisor", console, re.M):
        notes.append(f"The banner: moat {m.group(1)} booted through QEMU's multiboot loader "
                     "into 64-bit long mode.")
    if m := re.search(r"^cmdline: (.*)$", console, re.M):
        notes.append(f"It echoed its command line: {m.group(1).strip()!r}.")
    mem = re.findall(r"^\s*mem \[0x([0-9a-f]+)-0x([0-9a-f]+)\) (\w+)", console, re.M)
    if mem:
        avail = sum(int(e, 16) - int(s, 16) for s, e, kind in mem if kind == "available")
        notes.append(f"The firmware's memory map has {len(mem)} ranges, "
                     f"{avail // (1 << 20)} MiB of them available RAM.")
    if m := re.search(r"^frames: total=(\d+) free=(\d+) used=(\d+) reserved=(\d+)", console, re.M):
        total, free, used, reserved = map(int, m.groups())
        notes.append(f"The frame allocator counts {total} 4 KiB frames: {free} free, {used} used "
                     f"by the hypervisor, {reserved} reserved "
                     "(kept out: the hypervisor image, the modules and the like).")
    modules = re.findall(r"^module (\d+): .*?(\d+) bytes '(.*)'", console, re.M)
    if modules:
        listed = "; ".join(f"#{i} {size} bytes {text!r}" for i, size, text in modules)
        notes.append(f"It received {len(modules)} multiboot modules (-initrd): {listed}.")
    if m := re.search(r"^timer: lapic (\d+) Hz", console, re.M):
        notes.append(f"It calibrated the local APIC timer and ticks at {m.group(1)} Hz.")
    if re.search(r"^moat: stop: success", console, re.M):
        notes.append("Then it stopped cleanly through isa-debug-exit, which QEMU reported "
                     "as success.")
    return notes


def run(args: argparse.Namespace) -> int:
    root = paths.repo_root()
    build_or_fail()
    scen = scenario.load(root / DEMO_SCENARIO)
    print(f"moat: booting {DEMO_SCENARIO} under QEMU (TCG)\n", file=sys.stderr, flush=True)
    result = boot_scenario(scen, timeout=args.timeout or None)
    status = report(result)
    if result.status is qemu.Status.SUCCESS:
        print("\nWhat you just saw:")
        for note in explain(result.console):
            print(f"  - {note}")
        print("\nNext: ./moat test runs the test suite; ./moat run --help shows how to boot "
              "with your own command line, modules, gdb or the GRUB ISO.")
    return status
