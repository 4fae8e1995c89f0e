# SPDX-License-Identifier: MIT
"""`moat symbolize [--elf ELF] [LOG|-]`: annotate code addresses with function+offset."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from moat import paths
from moat.errors import UserError
from moat.symbolize import SymbolTable, annotate_line

DESCRIPTION = """\
Copy a console log to stdout, appending ' <func+0xoff>' after every 16-digit 0x address that
lies in the ELF's code. Without --elf, the hypervisor build the log itself names (its
`cmdline: build/hv/<build>.bin` line) is used, else build/hv/moat.elf.

reads:  LOG (or standard input), the ELF
writes: standard output only
"""

EPILOG = "exit status: 0; 3 when the log or the ELF cannot be read"

# The hypervisor prints its multiboot command line, whose first word is the kernel it booted.
_CMDLINE = re.compile(r"^cmdline: \S*?\b(moat(?:-selftest)?)\.(?:bin|elf)\b", re.M)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("symbolize", help="add <function+offset> after code addresses in a log",
                       description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--elf", type=Path, help="ELF with symbols (default: the build the log names, else "
                                            "build/hv/moat.elf)")
    p.add_argument("log", nargs="?", default="-", metavar="LOGFILE",
                   help="log to read ('-' or nothing: standard input)")
    p.set_defaults(func=run)


def elf_for(text: str) -> Path:
    """The ELF of the hypervisor build a log names on its cmdline line (moat.elf if none)."""
    m = _CMDLINE.search(text)
    return paths.require_built(paths.hv_image(m.group(1) if m else "moat", elf=True))


def run(args: argparse.Namespace) -> int:
    if args.log == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.log).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UserError(f"{args.log}: cannot read: {exc.strerror}") from None
    table = SymbolTable.from_elf(args.elf or elf_for(text))
    for line in text.splitlines(keepends=True):
        sys.stdout.write(annotate_line(line, table))
    sys.stdout.flush()
    return 0
