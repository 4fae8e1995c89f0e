# SPDX-License-Identifier: MIT
"""`moat soak [--calls N] [--seed S] [--domains K]`: the hypercall fuzzers, long, in one boot.

Boots tests/scenarios/hcfuzz.toml with its fuzzer domains (images/tests/hcfuzz) sharing N calls
(default 1,000,000) and seeds S, S+1, ...; its other domains (an honest ticker) run beside them.
Everything reported is what the guests and the hypervisor printed:
  - calls: the sum of each fuzzer's `hcfuzz: seed S: N hypercalls, ...` line;
  - distinct (op, result) pairs: the union of the fuzzers' `hcfuzz: pairs OP: R R ...` lines
    (each fuzzer's list must hold as many pairs as its summary counts);
  - hypervisor faults: `*** EXCEPTION` and `*** PANIC` lines (its own faults and failed BUG_ONs,
    which stop it), and, for information, the faults on guest addresses it answered with -EFAULT
    (`faults at stop:`);
  - free frames: the boot `frames:` line against `frames at stop:` (whose counters the hypervisor
    checks against its frame table and free list at stop: `frames: audit failed` if they differ).
Exit status 0 when every fuzzer made its calls, nothing faulted or crashed, every domain ended as
expected and no frame leaked; 1 otherwise; 2 when the system crashed or timed out.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from moat import paths, qemu, scenario
from moat.building import build_or_fail
from moat.errors import UserError

DEFAULT_CALLS = 1_000_000
FUZZER_IMAGE = "hcfuzz"
SCENARIO = Path("tests") / "scenarios" / "hcfuzz.toml"

_SUMMARY = re.compile(r"\((?:d(?P<dom>\d+))\) .*?hcfuzz: seed (?P<seed>\d+): (?P<calls>\d+) hypercalls, "
                      r"(?P<errors>\d+) errors \(\d+ ENOSYS\), (?P<pairs>\d+) \(op, result\) pairs")
_PAIRS = re.compile(r"^\(d(?P<dom>\d+)\) .*?hcfuzz: pairs (?P<op>[0-9.+*]+):(?P<results>(?: \S+)+)$")
_FRAMES_BOOT = re.compile(r"^frames: total=\d+ free=(\d+) ", re.M)
_FRAMES_STOP = re.compile(r"^frames at stop: total=\d+ free=(\d+) ", re.M)
_FIXUPS = re.compile(r"^faults at stop: (\d+) on guest addresses", re.M)
_AUDIT_FAILED = re.compile(r"^frames: audit failed: .*$", re.M)
_EXCEPTION = re.compile(r"^\*\*\* (?:EXCEPTION|PANIC)", re.M)
_CRASHED = re.compile(r"^domain \d+ '[^']*' crashed: .*$", re.M)
_ALL_STOPPED = re.compile(r"^moat: all domains stopped: (\d+) as expected, (\d+) not$", re.M)


@dataclass
class Fuzzer:
    seed: int
    calls: int


@dataclass
class Report:
    """What a soak's console says, and what is wrong with it (problems empty: passed)."""

    calls: int = 0
    pairs: set[tuple[str, str]] = field(default_factory=set)
    hypervisor_faults: int = 0
    guest_address_faults: int | None = None
    frames_boot: int | None = None
    frames_stop: int | None = None
    problems: list[str] = field(default_factory=list)


def plan(calls: int, seed: int, domains: int) -> list[Fuzzer]:
    """calls shared out over domains fuzzers (the first ones take the remainder), seeds seed, seed+1, ..."""
    share, extra = divmod(calls, domains)
    return [Fuzzer(seed + i, share + (1 if i < extra else 0)) for i in range(domains)]


def soak_scenario(base: scenario.Scenario, fuzzers: list[Fuzzer]) -> scenario.Scenario:
    """base with its fuzzer domains replaced by one per Fuzzer (copies of its first fuzzer domain)."""
    template = next((d for d in base.domains if d.image == FUZZER_IMAGE), None)
    if template is None:
        raise UserError(f"{base.path}: no domain runs the {FUZZER_IMAGE} image")
    others = [d for d in base.domains if d.image != FUZZER_IMAGE]
    soakers = [replace(template, name=f"fuzz-{i + 1}", cmdline=f"seed={f.seed} calls={f.calls}")
               for i, f in enumerate(fuzzers)]
    if len(others) + len(soakers) > scenario.MAX_DOMAINS:
        raise UserError(f"at most {scenario.MAX_DOMAINS - len(others)} fuzzer domains")
    return replace(base, domains=[*others, *soakers])


def analyse(console: str, fuzzers: list[Fuzzer], domains_total: int) -> Report:
    """Read the soak's console: the figures, and every way in which the run did not pass."""
    r = Report()
    want = {f.seed: f.calls for f in fuzzers}
    seen_seeds: dict[int, int] = {}
    pair_count: dict[str, int] = {}  # domain -> its summary's pair count
    for m in _SUMMARY.finditer(console):
        seed, calls = int(m["seed"]), int(m["calls"])
        seen_seeds[seed] = calls
        pair_count[m["dom"]] = int(m["pairs"])
        r.calls += calls
    per_domain: dict[str, set[tuple[str, str]]] = {}
    for line in console.splitlines():
        pm = _PAIRS.match(line)
        if pm:
            got = {(pm["op"], res) for res in pm["results"].split()}
            per_domain.setdefault(pm["dom"], set()).update(got)
            r.pairs |= got
    for seed, calls in want.items():
        if seed not in seen_seeds:
            r.problems.append(f"the fuzzer with seed {seed} did not report (it did not finish)")
        elif seen_seeds[seed] != calls:
            r.problems.append(f"the fuzzer with seed {seed} made {seen_seeds[seed]} calls, not {calls}")
    for dom, count in pair_count.items():
        listed = len(per_domain.get(dom, set()))
        if listed != count:
            r.problems.append(f"domain {dom} counted {count} (op, result) pairs but listed {listed}")
    r.hypervisor_faults = len(_EXCEPTION.findall(console))
    if r.hypervisor_faults:
        r.problems.append(f"the hypervisor faulted ({r.hypervisor_faults} `*** EXCEPTION` or `*** PANIC` reports)")
    r.problems += [f"a domain crashed: {line}" for line in _CRASHED.findall(console)]
    if (fixups := _FIXUPS.search(console)) is not None:
        r.guest_address_faults = int(fixups[1])
    boot, stop = _FRAMES_BOOT.search(console), _FRAMES_STOP.search(console)
    r.frames_boot = int(boot[1]) if boot else None
    r.frames_stop = int(stop[1]) if stop else None
    if r.frames_boot is None or r.frames_stop is None:
        r.problems.append("the console lacks the boot `frames:` or the `frames at stop:` line")
    elif r.frames_boot != r.frames_stop:
        r.problems.append(f"frames leaked: {r.frames_boot} free at boot, {r.frames_stop} at stop")
    r.problems += [f"the hypervisor's frame counters are wrong: {line}" for line in _AUDIT_FAILED.findall(console)]
    stopped = _ALL_STOPPED.search(console)
    if stopped is None:
        r.problems.append("the hypervisor did not report that all domains stopped")
    elif (int(stopped[1]), int(stopped[2])) != (domains_total, 0):
        r.problems.append(f"domains ended: {stopped[1]} as expected, {stopped[2]} not (of {domains_total})")
    return r


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "soak", help="run the hypercall fuzzers for N calls in one boot; report calls, pairs, faults, frames",
        description=f"""\
Boot {SCENARIO} with its fuzzer domains sharing N hypercalls (default {DEFAULT_CALLS:,}), then
report the calls made, the distinct (op, result) pairs, the hypervisor's faults (must be 0) and the
free frames at boot and at stop (must be equal).

reads:  {SCENARIO}, build/
writes: build/soak.log (--log), the staged boot modules under build/
""",
        epilog="exit status: 0 passed; 1 a check failed; 2 crash or timeout; 3 moat could not run it",
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    p.add_argument("--calls", type=int, default=DEFAULT_CALLS, metavar="N",
                   help=f"hypercalls in total (default {DEFAULT_CALLS})")
    p.add_argument("--seed", type=int, default=1, metavar="S",
                   help="the first fuzzer's seed; the others get S+1, S+2, ... (default 1)")
    p.add_argument("--domains", type=int, default=0, metavar="K",
                   help="fuzzer domains (default: as many as the scenario has)")
    p.add_argument("--timeout", type=float, default=0, metavar="SECONDS",
                   help="give up after this long (default: 120 s plus 1 s per 2,000 calls)")
    p.add_argument("--log", type=Path, metavar="FILE", help="where to keep the console (default build/soak.log)")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.calls < 1:
        raise UserError("--calls must be at least 1")
    if args.seed < 1:
        raise UserError("--seed must be at least 1 (the fuzzer's seed 0 means its default)")
    if args.domains < 0 or args.timeout < 0:
        raise UserError("--domains and --timeout must not be negative")
    root = paths.repo_root()
    base = scenario.load(root / SCENARIO)
    domains = args.domains or sum(d.image == FUZZER_IMAGE for d in base.domains)
    fuzzers = plan(args.calls, args.seed, domains)
    scen = soak_scenario(base, fuzzers)
    if not args.no_build:
        build_or_fail()
    kernel = paths.require_built(paths.hv_image(scen.hypervisor.build, root=root))
    log = args.log or paths.build_dir(root) / "soak.log"
    timeout = args.timeout or 120 + args.calls / 2000
    print(f"moat soak: {args.calls} calls over {domains} fuzzer domains (seeds {args.seed}-"
          f"{args.seed + domains - 1}), console in {paths.display(log)} ...", flush=True)
    start = time.monotonic()
    # QEMU runs in the root with paths relative to it, as in `moat run`: the module lines stay short.
    modules = [(path.resolve().relative_to(root), margs) if path.resolve().is_relative_to(root) else (path, margs)
               for path, margs in scen.module_pairs()]
    result = qemu.boot(kernel.relative_to(root), scen.hypervisor.cmdline, modules, timeout=timeout, log=log,
                       memory=scen.hypervisor.memory, cwd=root)
    wall = time.monotonic() - start
    rep = analyse(result.console, fuzzers, len(scen.domains))
    if result.status in (qemu.Status.CRASH, qemu.Status.TIMEOUT):
        rep.problems.insert(0, f"the system did not stop by itself: {result.describe()}")
    fixed = (f"; {rep.guest_address_faults} faults on guest addresses answered -EFAULT"
             if rep.guest_address_faults is not None else "")
    print(f"moat soak: calls made: {rep.calls} of {args.calls}")
    print(f"moat soak: distinct (op, result) pairs: {len(rep.pairs)}")
    print(f"moat soak: hypervisor faults: {rep.hypervisor_faults}{fixed}")
    print(f"moat soak: free frames: {rep.frames_boot} at boot, {rep.frames_stop} at stop")
    print(f"moat soak: wall time: {wall:.1f} s")
    for problem in rep.problems:
        print(f"moat soak: FAILED: {problem}", file=sys.stderr)
    if rep.problems:
        if result.status in (qemu.Status.CRASH, qemu.Status.TIMEOUT):
            print(result.tail(20), file=sys.stderr)
            return 2
        return 1
    print("moat soak: passed")
    return 0
