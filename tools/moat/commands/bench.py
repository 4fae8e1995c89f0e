# SPDX-License-Identifier: MIT
"""`moat bench [NAMES...] [--json FILE] [--compare OLD] [--list] [--docs FILE]`: run the bench scenarios."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from moat import bench, building, outputs, paths
from moat.errors import UserError

DESCRIPTION = """\
Build, then boot each bench scenario (tests/bench/*.toml) under -icount shift=0,sleep=off,
where the TSC counts guest instructions, and print min/median/max per figure; then time the
tools themselves (policy_compile: the 5,000-label policy from TOML and XML, and `moat --help`,
wall-clock seconds). A figure with a goal (moat.bench.GOALS) is printed with the goal, its floor
and met or missed. docs/benchmarks.md describes the protocol and lists the figures.

reads:  tests/bench/*.toml, build/hv/moat.bin, build/images/*.elf, --compare OLD (a --json
        file of an earlier run: each figure is printed beside its old median, with the change)
writes: build/bench-logs/<scenario>.log (each console), --json FILE; --docs rewrites the
        figures table of docs/benchmarks.md from a JSON file written by --json (no boot)
"""

EPILOG = """\
exit status: 0 every scenario produced all its figures; 1 a scenario failed (crash, timeout, a
missing or malformed figure, leaked frames); 3 bad arguments or nothing built
"""

DOC = Path("docs") / "benchmarks.md"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="build, boot the bench scenarios under icount, print the figures",
                       description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="only these scenarios (file names in tests/bench/ without .toml, or policy_compile)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--list", action="store_true",
                   help="list the scenarios and the figures they declare; boot nothing")
    p.add_argument("--docs", type=Path, metavar="FILE",
                   help=f"rewrite the figures table of {DOC} from FILE (written by --json); boot nothing")
    p.add_argument("--compare", type=Path, metavar="OLD",
                   help="also print each figure's change from OLD (a file written by --json)")
    p.add_argument("--timeout", type=float, default=bench.DEFAULT_TIMEOUT, metavar="S",
                   help=f"per scenario (default {bench.DEFAULT_TIMEOUT:g})")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.add_argument("-v", "--verbose", action="store_true", help="echo the consoles")
    p.set_defaults(func=run)


def _list(root: Path, names: list[str]) -> int:
    for path in bench.find_scenarios(root, names):
        declared = bench.declared_figures(path)
        print(f"{path.stem}: {' '.join(declared) or '(no declared figures)'}")
    if bench.host_benches(names):
        from moat import hostbench

        print(f"{hostbench.NAME}: {' '.join(hostbench.FIGURES)} (host, wall-clock)")
    return 0


def _read_results(source: Path, option: str) -> dict[str, Any]:
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{option} {source}: cannot read the results: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        raise UserError(f"{option} {source}: not a file written by `moat bench --json`")
    return data


def _docs(root: Path, source: Path) -> int:
    data = _read_results(source, "--docs")
    doc = root / DOC
    try:
        text = bench.update_doc(doc.read_text(encoding="utf-8"), data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"--docs: {doc} or {source} is not as expected: {exc}") from None
    outputs.write_file(doc, text)
    print(f"moat bench: rewrote the figures table of {DOC} from {source}")
    return 0


def run(args: argparse.Namespace) -> int:
    root = paths.repo_root()
    if args.list:
        return _list(root, args.names)
    if args.docs is not None:
        return _docs(root, args.docs)
    scenarios = bench.find_scenarios(root, args.names)
    hosts = bench.host_benches(args.names)
    if not scenarios and not hosts:
        raise UserError(f"no bench scenarios in {bench.bench_dir(root)}")
    if args.timeout <= 0:
        raise UserError("--timeout must be positive")
    if args.json is not None:  # before any work: a bad path must not waste a whole run
        outputs.check_output(args.json, option="--json", make_parents=True)
    old = _read_results(args.compare, "--compare") if args.compare is not None else None
    if not args.no_build:
        building.build_or_fail()

    print(f"moat bench: {bench.ICOUNT_NOTE}", flush=True)
    results = []
    for path in scenarios:
        print(f"moat bench: {path.stem} ...", flush=True)
        echo = (lambda line: print(f"  | {line}", flush=True)) if args.verbose else None
        results.append(bench.run_scenario(path, root, timeout=args.timeout, on_line=echo))
    for name in hosts:
        print(f"moat bench: {name} (host, wall-clock) ...", flush=True)
        results.append(bench.run_host(name))
    for result in results:
        for error in result.errors:
            print(f"moat bench: {result.name}: FAILED: {error}", file=sys.stderr, flush=True)
        if result.errors and result.log is not None:
            print(f"moat bench: {result.name}: console log: {paths.display(result.log)}", file=sys.stderr, flush=True)

    print()
    print(bench.format_table(results, bench.GOALS))
    if old is not None:
        print()
        print(f"moat bench: change from {args.compare} (medians)")
        print(bench.format_compare(old, results))
    if args.json is not None:
        outputs.write_file(args.json, json.dumps(bench.to_json(results), indent=2) + "\n")
        print(f"moat bench: wrote {args.json}")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"moat bench: {len(failed)} of {len(results)} scenarios failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    print(f"moat bench: {len(results)} scenarios, {sum(len(r.figures) for r in results)} figures")
    return 0
