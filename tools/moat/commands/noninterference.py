# SPDX-License-Identifier: MIT
"""`moat noninterference SCENARIO --high DOMAIN --low DOMAIN [--runs N]`: does a secret leak?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moat import building, outputs, paths
from moat.covert import noninterference as ni
from moat.errors import UserError

DESCRIPTION = """\
Boot SCENARIO under -icount shift=0,sleep=off (and QEMU's -seed) N times, each time with another
secret on the high domain's command line (`secret=0x...`), and once more with the first secret as
a control (a boot that is not reproducible cannot be judged). Compare what the low domain
observed: every line it printed (its own TSC readings included, as key=value words), how it
ended, and with --hypercalls every hypercall result it got (the test build's hypercall log).
Report whether low's view differs between secrets, where it first diverges, and the channel of
docs/covert-channels.md that explains it; then whether it still differs with every time reading
masked (noninterference for everything but timing).

reads:  SCENARIO and what it names, build/hv/moat{,-selftest}.bin, build/images/
writes: build/noninterference-logs/<scenario>-<run>.log, --json FILE
"""

EPILOG = """\
exit status: 0 low's view is the same for every secret (with --ignore-timing: apart from time
readings); 1 it differs; 2 a boot crashed or timed out, or the control run differed (not
reproducible); 3 bad arguments or nothing built
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("noninterference", help="boot with different secrets: does the low domain's view change?",
                       description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", type=Path, metavar="SCENARIO")
    p.add_argument("--high", required=True, metavar="DOMAIN", help="the domain whose secret it is")
    p.add_argument("--low", required=True, metavar="DOMAIN", help="the domain that must not learn it")
    p.add_argument("--runs", type=int, default=2, metavar="N", help="secrets to try (default 2)")
    p.add_argument("--secrets", metavar="S,S,...", help="the secrets themselves (numbers, 0x... allowed)")
    p.add_argument("--no-control", action="store_true", help="skip the repeat of the first secret")
    p.add_argument("--hypercalls", action="store_true",
                   help="boot the test build and log every hypercall result low gets (hclog=)")
    p.add_argument("--append", default="", metavar="CMDLINE",
                   help="more hypervisor command line (e.g. mitigate=all)")
    p.add_argument("--ignore-timing", action="store_true",
                   help="exit 0 when only time readings differ (the partitioned scheduler will close those)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="per boot (default 120)")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.set_defaults(func=run)


def _secrets(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(s, 0) % (1 << 64) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--secrets {text}: numbers separated by commas") from None


def print_report(rep: ni.Report) -> None:
    print(f"moat noninterference: {rep.policy_note}")
    for i, d in rep.divergences:
        r = rep.runs[i]
        print(f"  secret {rep.runs[0].secret:#x} vs {r.secret:#x}: low's view differs first at observation "
              f"{d.index}:")
        print(f"    {rep.runs[0].secret:#x}: {d.base if d.base is not None else '(no more observations)'}")
        print(f"    {r.secret:#x}: {d.other if d.other is not None else '(no more observations)'}")
        print(f"    {d.explain()}: channel {d.channel_text()}{' [timing]' if d.timing else ''}")
    if rep.divergences and not rep.functional:
        print("  with every time reading masked, low's view is the same for every secret")
    for i, d in rep.functional:
        r = rep.runs[i]
        print(f"  timing masked, secret {r.secret:#x} still differs at observation {d.index}: {d.explain()}: "
              f"channel {d.channel_text()}")
    for retry in rep.retries:
        print(f"moat noninterference: booted the set again, as the first attempt was not reproducible ({retry})",
              file=sys.stderr)
    for problem in rep.problems:
        print(f"moat noninterference: {problem}", file=sys.stderr)
    channels = ", ".join(rep.channels())
    print(f"moat noninterference: {rep.verdict}{' (' + channels + ')' if channels else ''}")


def run(args: argparse.Namespace) -> int:
    root = paths.repo_root()
    if not args.scenario.is_file():
        raise UserError(f"{args.scenario}: no such scenario file")
    if args.runs < 2 or args.runs > 64:
        raise UserError("--runs must be 2 to 64")
    if args.timeout <= 0:
        raise UserError("--timeout must be positive")
    if args.json is not None:
        outputs.check_output(args.json, option="--json", make_parents=True)
    if not args.no_build:
        building.build_or_fail()

    def progress(r: ni.Run) -> None:
        what = "control, " if r.control else ""
        print(f"moat noninterference: secret {r.secret:#x} ({what}{r.status.lower()}): {len(r.view)} observations "
              f"({paths.display(r.log) if r.log else '-'})", flush=True)

    rep = ni.run(args.scenario, root, high=args.high, low=args.low, runs=args.runs, secrets=_secrets(args.secrets),
                 control=not args.no_control, hypercalls=args.hypercalls, append=args.append,
                 timeout=args.timeout, on_run=progress)
    print_report(rep)
    if args.json is not None:
        outputs.write_file(args.json, json.dumps(rep.to_json(), indent=2) + "\n")
    if rep.verdict == "UNDECIDED":
        return 2
    if rep.verdict == "HOLDS" or (args.ignore_timing and not rep.functional):
        return 0
    return 1
