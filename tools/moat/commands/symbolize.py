# SPDX-License-Identifier: MIT
"""`moat symbolize [--elf ELF] [LOG|-]`: annotate code addresses with function+offset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moat import paths
from moat.errors import UserError
from moat.symbolize import SymbolTable, annotate_line


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "symbolize", help="add <function+offset> after code addresses in a log",
        description="Copy a console log, appending ' <func+0xoff>' after every 16-digit "
                    "0x address that lies in the ELF's code.", allow_abbrev=False)
    p.add_argument("--elf", type=Path, help="ELF with symbols (default build/hv/moat.elf)")
    p.add_argument("log", nargs="?", default="-", metavar="LOGFILE",
                   help="log to read ('-' or nothing: standard input)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    elf = args.elf or paths.require_built(paths.hv_image("moat", elf=True))
    table = SymbolTable.from_elf(elf)
    if args.log == "-":
        stream = sys.stdin
    else:
        try:
            stream = open(args.log, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            raise UserError(f"{args.log}: cannot read: {exc.strerror}") from None
    with stream:
        for line in stream:
            sys.stdout.write(annotate_line(line, table))
    sys.stdout.flush()
    return 0
