# SPDX-License-Identifier: MIT
"""`moat image inspect|check FILE`: look at and validate ELF images."""

from __future__ import annotations

import argparse
from pathlib import Path

from moat import elfcheck

DESCRIPTION = """\
Inspect or validate the hypervisor's or a guest's ELF image (pyelftools), e.g.
build/hv/moat.elf or build/images/hello.elf.

reads:  FILE
writes: standard output only
"""

EPILOG = ("exit status: 0 (check: the image passes every check); 1 check found problems (listed); "
          "3 FILE is not an ELF file or cannot be read")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("image", help="inspect or validate an ELF image (pyelftools)",
                       description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    inspect = actions.add_parser("inspect", help="entry, segments, symbols, address range",
                                 description="Print the class, entry, address range, symbols and segments "
                                             "(with flags) of an ELF file.", epilog=EPILOG, allow_abbrev=False)
    inspect.add_argument("file", type=Path, metavar="FILE")
    inspect.set_defaults(func=run_inspect)
    check = actions.add_parser(
        "check", allow_abbrev=False, epilog=EPILOG,
        help="W^X, file size <= memory size, entry in code, segments in window, no overlap",
        description="Check an ELF file as the hypervisor's loader would: x86-64 ELF64, W^X per loadable "
                    "segment, file size <= memory size, the entry in an executable segment, segments "
                    "inside --window and not overlapping.")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--window", metavar="LO:HI",
                       help="every loadable segment must lie in [LO, HI), e.g. 0x400000:0x40000000")
    check.set_defaults(func=run_check)


def run_inspect(args: argparse.Namespace) -> int:
    print(elfcheck.describe(elfcheck.load(args.file, symbols=True)))
    return 0


def run_check(args: argparse.Namespace) -> int:
    window = elfcheck.parse_window(args.window) if args.window else None
    image = elfcheck.load(args.file)
    problems = elfcheck.check(image, window)
    for problem in problems:
        print(f"{args.file}: {problem}")
    if problems:
        print(f"{args.file}: FAILED ({len(problems)} problem{'s' if len(problems) > 1 else ''})")
        return 1
    print(f"{args.file}: ok ({len(image.loads)} loadable segments, entry {image.entry:#x})")
    return 0
