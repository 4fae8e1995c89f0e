# SPDX-License-Identifier: MIT
"""`moat covert [NAMES] [--json FILE] [--tcg]`: measure the covert-channel pairs of tests/covert/."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moat import building, outputs, paths
from moat.covert import pairs
from moat.errors import UserError

DESCRIPTION = """\
For each channel (docs/covert-channels.md), boot its pair of tests/covert/ under -icount
shift=0,sleep=off: a sender and a receiver in labels of tests/covert/covert-policy.toml that may
share nothing. The sender sends a 16-bit preamble and N pseudo-random bits, one per time slot;
the receiver measures one value per slot, and the tool decodes them. For each channel: bits per
million guest instructions, the bit error rate, and the capacity of the binary symmetric channel
at that error rate (bits per million instructions). A channel that a hypervisor option closes
(`mitigate=domid`, `mitigate=pools`, `sched=partition`) is booted again with it: the figures
after. --tcg boots each
pair once more under plain TCG: bits per second of wall-clock time.

channels: """ + ", ".join(p.name for p in pairs.PAIRS) + """ (--quick: the fast subset the tests
measure: """ + ", ".join(p.name for p in pairs.PAIRS if p.quick) + """)

reads:  tests/covert/*.toml, build/hv/moat.bin, build/images/covert.elf
writes: build/covert-logs/<channel>-<mode>[-<option>].log, --json FILE
"""

EPILOG = """\
exit status: 0 every pair was measured; 1 a pair's receiver failed or the system failed; 2 a
pair crashed or timed out (its receiver never finished: reported, the others go on); 3 bad
arguments or nothing built
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("covert", help="measure covert channels: bits per Minsn, error rate, capacity",
                       description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="only these channels (or a pair's scenario file)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as a JSON list")
    p.add_argument("--tcg", action="store_true", help="also boot each pair under plain TCG (bits per second)")
    p.add_argument("--quick", action="store_true", help="only the fast subset (with NAMES: ignored)")
    p.add_argument("--bits", type=int, default=pairs.DEFAULT_BITS, metavar="N",
                   help=f"data bits per pair (default {pairs.DEFAULT_BITS}, at most {pairs.MAX_BITS})")
    p.add_argument("--seed", type=int, default=pairs.DEFAULT_SEED, metavar="S",
                   help="the bit string's seed (xorshift64; not 0)")
    p.add_argument("--no-mitigations", action="store_true", help="only the default configuration")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="per boot (default 120)")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.add_argument("-v", "--verbose", action="store_true", help="echo the consoles")
    p.set_defaults(func=run)


def select(root: Path, names: list[str], quick: bool) -> list[tuple[pairs.Pair, Path | None]]:
    """The pairs to measure: by name, or a scenario file of a pair (its name is the file's stem)."""
    if not names:
        return [(p, None) for p in pairs.PAIRS if p.quick or not quick]
    chosen: list[tuple[pairs.Pair, Path | None]] = []
    for name in names:
        if name in pairs.BY_NAME:
            chosen.append((pairs.BY_NAME[name], None))
            continue
        path = Path(name)
        if path.suffix == ".toml" and path.is_file():
            chan = next((w[5:] for w in path.read_text(encoding="utf-8").split() if w.startswith("chan=")), None)
            base = pairs.BY_NAME.get(chan or "")
            if base is None:
                raise UserError(f"{path}: no known chan= in its command lines (channels: "
                                f"{', '.join(pairs.BY_NAME)})")
            chosen.append((base, path))
            continue
        raise UserError(f"no covert channel {name!r} (there are: {', '.join(pairs.BY_NAME)})")
    return chosen


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(results: list[pairs.Result], tcg: bool) -> str:
    header = ["channel", "status", "bits/Minsn", "BER", "capacity", "mitigation", "BER after", "capacity after"]
    if tcg:
        header += ["bits/s (TCG)", "BER (TCG)", "capacity/s (TCG)"]
    rows = []
    for r in results:
        d, m = r.default, r.mitigated
        row = [r.title, r.status, _fmt(d.rate()), _fmt(d.error_rate),
               _fmt(d.capacity()), (r.mitigation or "-") if m is not None else "-",
               _fmt(m.error_rate) if m else "-", _fmt(m.capacity()) if m else "-"]
        if tcg:
            t = r.tcg
            row += [_fmt(t.rate(), 1) if t else "-", _fmt(t.error_rate) if t else "-",
                    _fmt(t.capacity(), 1) if t else "-"]
        rows.append(row)
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    root = paths.repo_root()
    if not 1 <= args.bits <= pairs.MAX_BITS:
        raise UserError(f"--bits must be 1 to {pairs.MAX_BITS}")
    if args.seed % (1 << 64) == 0:
        raise UserError("--seed must not be 0 (xorshift64 would send only zeros)")
    if args.timeout <= 0:
        raise UserError("--timeout must be positive")
    chosen = select(root, args.names, args.quick)
    if args.json is not None:
        outputs.check_output(args.json, option="--json", make_parents=True)
    if not args.no_build:
        building.build_or_fail()

    results = []
    for pair, path in chosen:
        print(f"moat covert: {pair.name if path is None else f'{path} ({pair.name})'} ...", flush=True)
        echo = (lambda line: print(f"  | {line}", flush=True)) if args.verbose else None
        res = pairs.measure(pair, root, bits=args.bits, seed=args.seed, timeout=args.timeout, tcg=args.tcg,
                            mitigated=not args.no_mitigations and path is None, scenario_path=path,
                            on_line=echo)
        for r in (res.default, res.mitigated, res.tcg):
            if r is not None and r.status != "ok":
                where = f" ({paths.display(r.log)})" if r.log else ""
                print(f"moat covert: {res.title} [{r.mode}{' ' + r.append if r.append else ''}]: "
                      f"{r.status.upper()}: {r.reason}{where}", file=sys.stderr, flush=True)
        results.append(res)

    print()
    print(table(results, args.tcg))
    if args.json is not None:
        outputs.write_file(args.json, json.dumps([r.to_json() for r in results], indent=2) + "\n")
        print(f"moat covert: wrote {args.json}")
    statuses = {r.status for r in results}
    if "crash" in statuses or "timeout" in statuses:
        return 2
    if "error" in statuses:
        return 1
    print(f"moat covert: {len(results)} channels measured")
    return 0
