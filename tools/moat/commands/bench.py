# SPDX-License-Identifier: MIT
"""`moat bench [NAMES...] [--json FILE] [--list]`: boot the bench scenarios under icount."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moat import bench, paths
from moat.commands.build import build_or_fail
from moat.errors import UserError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench", help="build, boot the bench scenarios under icount, print the figures",
        description="Build, then boot each bench scenario (tests/bench/*.toml) under "
                    "-icount shift=0,sleep=off, where the TSC counts guest instructions, and "
                    "print min/median/max per figure. Exit status 1 when a scenario fails "
                    "(crash, timeout, a missing or malformed figure, leaked frames). "
                    "docs/benchmarks.md describes the protocol.",
        allow_abbrev=False)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="only these scenarios (file names in tests/bench/ without .toml)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--list", action="store_true",
                   help="list the scenarios and the figures they declare; boot nothing")
    p.add_argument("--timeout", type=float, default=bench.DEFAULT_TIMEOUT, metavar="S",
                   help=f"per scenario (default {bench.DEFAULT_TIMEOUT:g})")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.add_argument("-v", "--verbose", action="store_true", help="echo the consoles")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = paths.repo_root()
    scenarios = bench.find_scenarios(root, args.names)
    if args.list:
        for path in scenarios:
            declared = bench.declared_figures(path)
            print(f"{path.stem}: {' '.join(declared) or '(no declared figures)'}")
        return 0
    if not scenarios:
        raise UserError(f"no bench scenarios in {bench.bench_dir(root)}")
    if args.timeout <= 0:
        raise UserError("--timeout must be positive")
    if not args.no_build:
        build_or_fail()

    print(f"moat bench: {bench.ICOUNT_NOTE}", flush=True)
    results = []
    for path in scenarios:
        print(f"moat bench: {path.stem} ...", flush=True)
        echo = (lambda line: print(f"  | {line}", flush=True)) if args.verbose else None
        result = bench.run_scenario(path, root, timeout=args.timeout, on_line=echo)
        results.append(result)
        for error in result.errors:
            print(f"moat bench: {path.stem}: FAILED: {error}", file=sys.stderr, flush=True)
        if result.errors and result.log is not None:
            print(f"moat bench: {path.stem}: console log: {paths.display(result.log)}",
                  file=sys.stderr, flush=True)

    print()
    print(bench.format_table(results))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(bench.to_json(results), indent=2) + "\n",
                             encoding="utf-8")
        print(f"moat bench: wrote {args.json}")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"moat bench: {len(failed)} of {len(results)} scenarios failed: "
              f"{' '.join(failed)}", file=sys.stderr)
        return 1
    print(f"moat bench: {len(results)} scenarios, "
          f"{sum(len(r.figures) for r in results)} figures")
    return 0
