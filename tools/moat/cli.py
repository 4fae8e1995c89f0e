# SPDX-License-Identifier: MIT
"""The `moat` command: argparse with one module per subcommand under moat.commands.

Exit statuses: 0 success, 1 failure, 2 crash or timeout (of the booted system),
3 when moat itself could not do what was asked (bad arguments, a missing tool
or build output); `moat test` and `moat build` pass on pytest's and SCons's.

Start-up stays fast because only the command being run is imported: `moat --help` lists the
commands from COMMANDS below without importing any of them, and each command module imports
its heavier dependencies (the policy compiler, pyelftools, lxml) when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

from moat import __version__
from moat.errors import USER_ERROR_EXIT, Terminated, UserError

# Every command: its name, its module under moat.commands, the one line `moat --help` shows.
# A module that is not there (a command of a later release) is left out. Add a command with
# one line here and a module with register(subparsers) and its handler.
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("build", "build everything with SCons, parallel, one progress line"),
    "run": ("run", "build, then boot the hypervisor (or a scenario) in QEMU"),
    "image": ("image", "inspect or validate an ELF image (pyelftools)"),
    "symbolize": ("symbolize", "add <function+offset> after code addresses in a log"),
    "policy": ("policy", "compile, check and inspect ACM security policies"),
    "test": ("test", "build, then run the tests (extra arguments go to pytest)"),
    "demo": ("demo", "build and boot the demo, then explain what it showed"),
    "new-test": ("new_test", "scaffold a guest test: one C file and one scenario"),
    "bench": ("bench", "build, boot the bench scenarios under icount, print the figures"),
    "attest": ("attest", "measured launch: expected measurements, and verify a boot with a TPM"),
    "links": ("links", "draw a scenario's domains, links, switch and VLANs (Graphviz)"),
    "check": ("check", "both compilers, three static analyzers, ruff, mypy and a timed fuzz run"),
    "soak": ("soak", "the hypercall fuzzers across several domains for N calls"),
    "coverage": ("coverage", "run tests with QEMU's block log: hv/ lines and branches, tools/ lines"),
    "mutate": ("mutate", "mutation testing of hv/: mutants built and run against the tests that cover them"),
    "covert": ("covert", "measure covert channels between labels that may not share: rate, errors, capacity"),
    "noninterference": ("noninterference", "boot a scenario with different secrets; does the low domain see?"),
}

EPILOG = ("exit status: 0 success, 1 failure, 2 crash or timeout of the booted system, 3 moat "
          "could not do what was asked. `moat COMMAND --help` says what each command reads and writes.")


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors exit with moat's user-error status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(USER_ERROR_EXIT, f"moat: error: {message}\n")


def _available(module: str) -> bool:
    return importlib.util.find_spec(f"moat.commands.{module}") is not None


def _load(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"moat.commands.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"moat.commands.{module}":
            return None
        raise


def version_text() -> str:
    from moat import paths

    return f"moat {__version__} ({paths.describe_build()})"


class _Version(argparse.Action):
    """--version, worked out only when asked (it reads git and the build)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the tools', the build's and git's versions")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word that is not an option)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def make_parser(command: str | None = None) -> Parser:
    """The parser, with the full options of `command` only; without one (or with a name that is
    not a command), every command listed by name, for `moat --help` and the "invalid choice"
    message. A command's parser needs none of the others: its own help and errors name no other
    command, and a parser per command listed was two thirds of the time (argparse looks up its
    group titles with gettext, which searches the locale directories at every call)."""
    parser = Parser(prog="moat", description="Build, boot, inspect and test the moat hypervisor.",
                    epilog=EPILOG, allow_abbrev=False)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    if command in COMMANDS:
        module = _load(COMMANDS[command][0])
        if module is not None:
            module.register(sub)
            return parser
    for name, (module_name, help_line) in COMMANDS.items():
        if _available(module_name):
            sub.add_parser(name, help=help_line, add_help=False)
    return parser


def _split_tail(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Arguments before and after a bare `--` (None when there is none)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, None


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser(_chosen(args_list))
    head, tail = _split_tail(args_list)
    args, extra = parser.parse_known_args(head)
    if tail is not None:
        if getattr(args, "takes_tail", False):
            args.tail = tail
        else:
            extra += ["--", *tail]
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    if not hasattr(args, "func"):
        parser.error(f"{args.command}: put options after the command name")
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"moat: error: {exc}", file=sys.stderr)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print("moat: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"moat: {exc}; QEMU was stopped", file=sys.stderr)
        return 128 + exc.signum
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file moat could not read or write that no check caught first
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"moat: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return USER_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
