# SPDX-License-Identifier: MIT
"""The `moat` command: argparse with one module per subcommand under moat.commands.

Exit statuses: 0 success, 1 failure, 2 crash or timeout (of the booted system),
3 when moat itself could not do what was asked (bad arguments, a missing tool
or build output); `moat test` and `moat build` pass on pytest's and SCons's.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from moat import __version__
from moat.errors import USER_ERROR_EXIT, UserError

# Subcommand modules, in the order `moat --help` lists them. A module that is
# not there (policy comes with the policy compiler) is left out.
COMMANDS = ("build", "run", "image", "symbolize", "policy", "test", "demo", "new_test", "bench", "attest",
            "coverage", "mutate")


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors exit with moat's user-error status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(USER_ERROR_EXIT, f"moat: error: {message}\n")


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"moat.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"moat.commands.{name}":
            return None
        raise


def make_parser() -> Parser:
    parser = Parser(prog="moat", description="Build, boot, inspect and test the moat hypervisor.",
                    allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"moat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        module = _load(name)
        if module is not None:
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"moat: error: {exc}", file=sys.stderr)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print("moat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
