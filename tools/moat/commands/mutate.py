# SPDX-License-Identifier: MIT
"""`moat mutate [FILES...] [--json FILE]`: mutation testing of hv/ (moat.mutate, moat.mutate_run)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from moat import coverage_thresholds as thresholds
from moat import mutate, mutate_journal, mutate_run
from moat.building import run_scons
from moat.errors import UserError
from moat.paths import build_dir, repo_root

DESCRIPTION = f"""\
Generate mutants of hv/ C files and headers (tree-sitter-c), build each in a copy of the tree, run the tests
that cover the mutated line (build/coverage/tests.json from the last moat coverage) and report the
kill rate and every survivor with its diff (docs/coverage.md). Equivalent mutants are listed in
{mutate.EQUIVALENT_FILE}. Without FILES: {', '.join(mutate.DEFAULT_FILES)}.

Each result is appended to build/mutate/journal.jsonl as it comes, keyed by a digest of the tree
(sources, tests, tools, QEMU's version); --resume takes the results of that same tree from there
and runs only the rest, so a long run can be stopped and taken up again.

reads:  FILES (hv/ C sources), build/coverage/tests.json, {mutate.EQUIVALENT_FILE},
        build/mutate/journal.jsonl or --journal FILE (with --resume)
writes: build/mutate/ (the workers' copies of the tree, journal.jsonl or --journal FILE), --json FILE, the
        kill-rate threshold in tests/quality/thresholds.toml (only with --update-threshold)
"""

EPILOG = """\
exit status: 0 every mutant was killed or is listed as equivalent; 1 a mutant survived or could
not be run; 3 moat could not do what was asked (no coverage map yet, an unknown file, an output it
cannot write)
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "mutate", help="mutation testing: plant small bugs in hv/ and see whether the tests catch them",
        description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="hv/ C files or headers to mutate (a relative path is taken from the moat tree, $MOAT_ROOT, "
                        "as the tests are, not from the current directory)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON to FILE")
    p.add_argument("--operator", action="append", choices=mutate.OPERATORS, dest="operators",
                   help="only these operators (repeatable; default all)")
    p.add_argument("--function", action="append", dest="functions", metavar="NAME",
                   help="only mutants in these functions (repeatable)")
    p.add_argument("--line", action="append", type=int, dest="lines", metavar="N",
                   help="only mutants starting on these lines (repeatable)")
    p.add_argument("--sample", type=int, metavar="N",
                   help="run N mutants spread evenly over the selection (a time-boxed estimate)")
    # One test per --tests (repeatable), so that FILES may come after it: with nargs="+" the
    # files written after `--tests T` were taken as tests and the default files were mutated.
    p.add_argument("--tests", action="append", metavar="TEST",
                   help="run this test (a pytest path or node id, from the moat tree) for every mutant "
                        "instead of the covering ones (repeatable: --tests A --tests B)")
    p.add_argument("--max-tests", type=int, default=0, metavar="N",
                   help="run at most the N fastest covering boot tests per mutant (default: all)")
    p.add_argument("--jobs", "-j", type=int, default=2, help="mutants built and tested at once (default 2)")
    p.add_argument("--timeout-factor", type=float, default=3.0,
                   help="a mutant's tests may take this many times their recorded time (plus 60 s) "
                        "before it counts as killed by a timeout (default 3)")
    p.add_argument("--work", type=Path, metavar="DIR",
                   help="where the workers' copies of the tree go (default build/mutate; anywhere but "
                        "the tree itself or a directory holding it: the copies leave DIR out)")
    p.add_argument("--list", action="store_true", help="list the selected mutants and stop")
    p.add_argument("--resume", action="store_true",
                   help="take the results of mutants already run on this same tree (same sources, tests, "
                        "tools and QEMU; same tests chosen) from build/mutate/journal.jsonl and run the rest")
    p.add_argument("--journal", type=Path, metavar="FILE",
                   help="record each result in FILE, and with --resume take results back from it "
                        "(default build/mutate/journal.jsonl; a run that is not a measurement of the tree, "
                        "such as a test of moat mutate itself, keeps its results out of the tree's journal)")
    p.add_argument("--no-build", action="store_true",
                   help="do not run SCons in the tree first (it is built already; each worker still builds "
                        "its copy and every mutant)")
    p.add_argument("--update-threshold", action="store_true",
                   help="raise the checked-in kill-rate threshold to this run's (whole default run only)")
    p.set_defaults(func=run)


def source_path(f: str, root: Path) -> Path:
    """FILE as a path inside the tree: a relative one is taken from the tree's root (the tests
    run there too), an absolute one must lie in the tree."""
    path = Path(f) if Path(f).is_absolute() else root / f
    try:
        rel = path.resolve().relative_to(root)
    except ValueError:
        raise UserError(f"{f}: not in the moat tree {root} (FILES are hv/ C files of that tree)") from None
    # Headers too: the hot paths' checks are often static inline functions in hv/ headers, and the
    # coverage map knows their lines (DWARF names the header of inlined code).
    if not (root / rel).is_file() or rel.suffix not in (".c", ".h") or not rel.parts or rel.parts[0] != "hv":
        hint = " (a test? name each with its own --tests)" if rel.suffix == ".py" or "::" in f else ""
        raise UserError(f"{f}: not a C file under hv/ of {root}{hint}")
    return rel


def select(args: argparse.Namespace, root: Path) -> list[mutate.Mutant]:
    files = args.files or list(mutate.DEFAULT_FILES)
    out: list[mutate.Mutant] = []
    for f in files:
        rel = source_path(f, root)
        out += mutate.mutants(root, str(rel), tuple(args.operators or mutate.OPERATORS))
    if args.functions:
        out = [m for m in out if m.function in args.functions]
    if args.lines:
        out = [m for m in out if m.line in args.lines]
    if args.sample and 0 < args.sample < len(out):
        step = len(out) / args.sample
        out = [out[int(i * step)] for i in range(args.sample)]
    return out


def print_report(data: dict[str, Any], results: list[mutate_run.Result]) -> None:
    for f, d in data["files"].items():
        rate = "n/a" if d["kill_rate_percent"] is None else f"{d['kill_rate_percent']:.1f} %"
        print(f"{f}: {d['killed']} killed, {d['survived']} survived, {d['equivalent']} equivalent, "
              f"{d['not_built']} not built: kill rate {rate}")
        for s in d["survivors"]:
            print(f"  SURVIVED {s['id']} (line {s['line']}; {s['detail']})")
            print("    " + s["diff"].rstrip().replace("\n", "\n    "))
    rate = "n/a" if data["kill_rate_percent"] is None else f"{data['kill_rate_percent']:.1f} %"
    print(f"all: {data['killed']} killed, {data['survived']} survived, {data['equivalent']} equivalent, "
          f"{data['not_built']} not built, {data['errors']} errors: kill rate {rate}")


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    # --work resolved here: the workers run with their copy as the working directory. Checked
    # before anything is built, so a work directory that is or holds the tree is refused at once.
    work = args.work.resolve() if args.work else build_dir(root) / "mutate"
    if args.work and not args.list:
        mutate_run.check_work_dir(root, args.work)
    # A --sample of the default files is an estimate of the whole run and may set the threshold;
    # any other selection may not, which is refused before the run (the whole run takes hours).
    whole = not (args.files or args.operators or args.functions or args.lines or args.tests or args.max_tests)
    if args.update_threshold and not whole and not args.list:
        raise UserError("--update-threshold needs a run of the default files "
                        "(no FILES, no selection but --sample); nothing was run")
    chosen = select(args, root)
    if args.list:
        for m in chosen:
            print(f"{m.file}:{m.line}: {m.id}")
        print(f"{len(chosen)} mutants")
        return 0
    if not chosen:
        raise UserError("no mutant selected")
    equivalents = mutate.load_equivalents(root)
    test_map: dict[str, dict[str, Any]] = {}
    coverable: dict[str, set[int]] = {}
    tests_json = build_dir(root) / "coverage" / "tests.json"
    if not args.tests:
        if not tests_json.is_file():
            raise UserError(f"{tests_json} is missing: run `moat coverage` first (mutate runs the tests that "
                            "cover each mutant), or name the tests with --tests")
        test_map = mutate_run.load_test_map(tests_json)
        coverable = mutate_run.load_coverable(tests_json)
    built = False

    def build() -> None:
        nonlocal built
        if not built and not args.no_build:
            status = run_scons([], root)
            if status != 0:
                raise UserError(f"the unmutated tree does not build (scons exit status {status})")
        built = True

    # The covering tests take the host tests of the programs built from a mutated file (build/host),
    # so the tree is built before they are chosen; tests named with --tests need it only for a run.
    if not args.tests:
        build()
    host = mutate_run.host_tests(root) if not args.tests else {}
    todo: list[tuple[mutate.Mutant, list[str], float]] = []
    skipped: list[mutate_run.Result] = []
    for m in chosen:
        if m.id in equivalents:
            skipped.append(mutate_run.Result(m, mutate_run.EQUIVALENT, detail=equivalents[m.id].reason,
                                             diff=m.diff((root / m.file).read_bytes())))
            continue
        if args.tests:
            tests = list(args.tests)
            seconds = 30.0 * len(tests)
        else:
            boot = mutate_run.covering_tests(m, test_map, coverable)
            if args.max_tests > 0:
                boot = boot[:args.max_tests]
            tests = host.get(m.file, []) + boot
            seconds = sum(float(test_map[t].get("seconds", 0.0)) for t in boot) + 5.0 * len(host.get(m.file, []))
        todo.append((m, tests, args.timeout_factor * seconds + 60.0))
    journal_path = args.journal.resolve() if args.journal else build_dir(root) / "mutate" / "journal.jsonl"
    journal = mutate_journal.Journal(journal_path, mutate_journal.tree_digest(root))
    resumed: list[mutate_run.Result] = []
    if args.resume:
        recorded = journal.load()
        left: list[tuple[mutate.Mutant, list[str], float]] = []
        for m, tests, timeout in todo:
            hit = recorded.get((m.id, tuple(tests)))
            if hit is None:
                left.append((m, tests, timeout))
            else:
                resumed.append(mutate_run.Result(m, hit.status, tests, hit.seconds, hit.detail + " (from the journal)",
                                                 m.diff((root / m.file).read_bytes())))
        todo = left
        print(f"moat mutate: {len(resumed)} mutants taken from the journal (tree {journal.digest[:12]})")
    print(f"moat mutate: {len(todo)} mutants to run ({len(skipped)} listed as equivalent) on {args.jobs} workers")
    start = time.monotonic()

    def progress(r: mutate_run.Result, done: int, total: int) -> None:
        journal.record(r.mutant.id, r.tests, r.status, r.seconds, r.detail)
        print(f"[{done}/{total}] {r.status:9} {r.mutant.file}:{r.mutant.line} {r.mutant.description} "
              f"({r.seconds:.0f} s; {r.detail})", flush=True)

    results: list[mutate_run.Result] = []
    if todo:
        build()
        try:
            results = mutate_run.run_all(root, work, todo, args.jobs, progress)
        except RuntimeError as exc:
            raise UserError(str(exc)) from exc
    data = mutate_run.report(resumed + results + skipped, equivalents)
    data["seconds"] = round(time.monotonic() - start, 1)
    data["mutants_selected"] = len(chosen)
    data["from_journal"] = len(resumed)
    print_report(data, results)
    out = build_dir(root) / "mutate"
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1) + "\n"
    (out / "mutate.json").write_text(text, encoding="utf-8")
    if whole:
        (out / "last-full.json").write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    measured = thresholds.from_mutation(data)
    for line in thresholds.compare(thresholds.load(root), measured):
        print(f"moat mutate: {line}" + ("" if whole else " (a partial run: the threshold is for the whole run)"))
    if args.update_threshold:
        for line in thresholds.raise_to(root, measured):
            print(f"moat mutate: {line}")
    return 0 if data["survived"] == 0 and data["errors"] == 0 else 1
