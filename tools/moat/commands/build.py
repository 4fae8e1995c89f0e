# SPDX-License-Identifier: MIT
"""`moat build [-v] [SCONS ARGS]`: run SCons at the repository root, parallel, one progress line."""

from __future__ import annotations

import argparse

from moat import building

DESCRIPTION = """\
Run SCons at the repository root with as many jobs as CPUs (unless you pass -j), showing one
progress line instead of a line per step; anything a compiler says, and the whole output of a
failed build, is shown. Extra arguments go to scons: `moat build -c` cleans, `moat build
VERBOSE=1` shows the full command lines (with -v).

reads:  SConstruct and the SConscripts, hv/, boot/, images/, tools/moat/data/default-policy.toml
writes: build/ (build/hv/moat.bin, .elf, build/images/*.elf, build/moat.iso, ...; docs/CONTRACTS.md)
"""

EPILOG = "exit status: SCons's (0 built or up to date); 3 when scons cannot be found"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("build", help="build everything with SCons, parallel, one progress line",
                       usage="moat build [-v] [SCONS ARGS...]", description=DESCRIPTION, epilog=EPILOG,
                       allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="SCons's own output, a line per step")
    p.set_defaults(func=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    return building.build(args.extra, verbose=args.verbose)
