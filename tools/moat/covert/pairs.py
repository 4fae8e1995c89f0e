# SPDX-License-Identifier: MIT
"""Covert-channel pairs (`moat covert`): boot a sender and a receiver, decode, figure the capacity.

Each pair is a scenario in tests/covert/ with two domains of the `covert` image
(images/covert/covert): one whose command line says `role=send`, one `role=recv`, in labels of
tests/covert/covert-policy.toml that share nothing. The tool appends the run's parameters
(`seed= n= t0= slot=`) to both command lines: the sender sends the 16-bit preamble and then n
pseudo-random bits from the seed (xorshift64, computed here too), one per slot; the receiver
prints one measurement per slot. Decoding takes the midpoint between the mean measurement of the
preamble's ones and of its zeros as the threshold (and which side is one), then reads the data
bits. Figures:

  bits_per_minsn            slots per million instructions under -icount (the TSC counts
                            instructions there: one per nanosecond of system time)
  error_rate                wrong data bits / data bits (0.5 when the preamble shows no
                            difference at all: the receiver cannot tell a one from a zero)
  capacity_bits_per_minsn   bits_per_minsn * (1 - H(error_rate)), the binary symmetric channel's
                            capacity at that error rate
  bits_per_second, ...      the same under plain TCG (--tcg), from the receiver's system time
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from moat.covert import inventory

PREAMBLE = 0xA5A5
PREAMBLE_BITS = 16
DEFAULT_BITS = 64
DEFAULT_SEED = 0x5EED
MAX_BITS = 2048 - PREAMBLE_BITS  # MAX_SLOTS in images/covert/covert/main.c
TCG_EXTRA_T0_MS = 250


@dataclass(frozen=True)
class Pair:
    """One measured channel: its scenario (tests/covert/<scenario>) and its timing."""

    name: str  # the inventory id
    scenario: str
    slot_us: int
    t0_ms: int = 50
    quick: bool = False  # in the small, fast subset the test suite measures
    # With the mitigation on, the receiver may have to work harder: more command line for it,
    # and the slot that gives it the time.
    mitigated_receiver: str = ""
    mitigated_slot_us: int | None = None


PAIRS: tuple[Pair, ...] = (
    Pair("cpu", "cpu.toml", slot_us=20_000),
    Pair("timer", "timer.toml", slot_us=20_000),
    Pair("tick", "tick.toml", slot_us=4_000, quick=True),
    Pair("console", "console.toml", slot_us=4_000),
    Pair("exist", "exist.toml", slot_us=4_000, quick=True, mitigated_receiver="probe=scan",
         mitigated_slot_us=60_000),
    Pair("domid", "domid.toml", slot_us=4_000, quick=True),
    Pair("frames", "frames.toml", slot_us=16_000, t0_ms=300, quick=True),
    Pair("domtable", "domtable.toml", slot_us=4_000, t0_ms=100, quick=True),
    Pair("chwall", "chwall.toml", slot_us=4_000),
)

BY_NAME: dict[str, Pair] = {p.name: p for p in PAIRS}


def covert_dir(root: Path) -> Path:
    return root / "tests" / "covert"


def expected_bits(seed: int, n: int) -> list[int]:
    """The preamble, then n bits of xorshift64 from seed (as images/covert/covert/main.c)."""
    bits = [(PREAMBLE >> (PREAMBLE_BITS - 1 - i)) & 1 for i in range(PREAMBLE_BITS)]
    x = seed & 0xFFFF_FFFF_FFFF_FFFF
    for _ in range(n):
        x ^= (x << 13) & 0xFFFF_FFFF_FFFF_FFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFF_FFFF_FFFF_FFFF
        bits.append(x >> 63)
    return bits


def binary_entropy(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def capacity(rate: float, error_rate: float) -> float:
    """The binary symmetric channel's capacity at this error rate, in the rate's unit."""
    return rate * (1.0 - binary_entropy(error_rate))


@dataclass
class Decoded:
    bits: list[int]
    errors: int
    threshold: float | None  # None: the preamble's ones and zeros measured the same
    one_mean: float
    zero_mean: float

    @property
    def error_rate(self) -> float:
        if self.threshold is None or not self.bits:
            return 0.5
        return self.errors / len(self.bits)


def decode(values: Sequence[int], expected: Sequence[int]) -> Decoded:
    """Data bits from the receiver's measurements, with the preamble as the training sequence."""
    if len(values) != len(expected):
        raise ValueError(f"{len(values)} measurements for {len(expected)} slots")
    pre_v, pre_b = values[:PREAMBLE_BITS], expected[:PREAMBLE_BITS]
    ones = [v for v, b in zip(pre_v, pre_b, strict=True) if b]
    zeros = [v for v, b in zip(pre_v, pre_b, strict=True) if not b]
    one_mean, zero_mean = sum(ones) / len(ones), sum(zeros) / len(zeros)
    data_v, data_b = values[PREAMBLE_BITS:], expected[PREAMBLE_BITS:]
    if one_mean == zero_mean:
        return Decoded([], len(data_b), None, one_mean, zero_mean)
    threshold = (one_mean + zero_mean) / 2
    high_is_one = one_mean > zero_mean
    bits = [int((v > threshold) == high_is_one) for v in data_v]
    errors = sum(b != e for b, e in zip(bits, data_b, strict=True))
    return Decoded(bits, errors, threshold, one_mean, zero_mean)


# ---- one run -------------------------------------------------------------------------------

STATUSES = ("ok", "timeout", "crash", "error")


@dataclass
class Run:
    """One boot of a pair: what the receiver measured, or why there is nothing."""

    pair: str
    mode: str  # "icount" or "tcg"
    append: str  # the hypervisor command-line words added (e.g. "mitigate=domid")
    status: str = "ok"
    reason: str = ""
    slots: int = 0
    values: list[int] = field(default_factory=list)
    tsc0: int = 0
    tsc1: int = 0
    ns0: int = 0
    ns1: int = 0
    decoded: Decoded | None = None
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.decoded is not None

    @property
    def error_rate(self) -> float | None:
        return self.decoded.error_rate if self.decoded is not None else None

    def rate(self) -> float | None:
        """Slots per million instructions (icount) or per second (tcg)."""
        if not self.ok:
            return None
        if self.mode == "icount":
            span = self.tsc1 - self.tsc0
            return self.slots * 1e6 / span if span > 0 else None
        span = self.ns1 - self.ns0
        return self.slots * 1e9 / span if span > 0 else None

    def capacity(self) -> float | None:
        rate, ber = self.rate(), self.error_rate
        return capacity(rate, ber) if rate is not None and ber is not None else None


def _domain_ids(lines: Sequence[str]) -> dict[str, int]:
    created = re.compile(r"^domain (\d+) '([^']*)' created: ")
    ids: dict[str, int] = {}
    for line in lines:
        if m := created.match(line):
            ids[m[2]] = int(m[1])
    return ids


def parse_console(run: Run, lines: Sequence[str], receiver: str, expected: Sequence[int]) -> Run:
    """Fill run from a boot's console: the receiver's lines, decoded against expected."""
    ids = _domain_ids(lines)
    if receiver not in ids:
        run.status, run.reason = "error", f"the receiver domain {receiver!r} was not created"
        return run
    prefix = f"(d{ids[receiver]}) covert: "
    values: dict[int, int] = {}
    header = done = False
    for line in lines:
        if not line.startswith(prefix):
            continue
        body = line[len(prefix):]
        if body.startswith("error: "):
            run.status, run.reason = "error", f"the receiver: {body[7:]}"
            return run
        if body.startswith("timeout: "):
            run.status, run.reason = "timeout", f"the receiver: {body[9:]}"
            return run
        if m := re.fullmatch(r"recv chan=(\S+) slots=(\d+) tsc0=(\d+) tsc1=(\d+) ns0=(\d+) ns1=(\d+)", body):
            run.slots = int(m[2])
            run.tsc0, run.tsc1, run.ns0, run.ns1 = (int(m[i]) for i in range(3, 7))
            header = True
        elif m := re.fullmatch(r"m (\d+)((?: \d+)+)", body):
            for k, v in enumerate(m[2].split()):
                values[int(m[1]) + k] = int(v)
        elif body == "done":
            done = True
    if not header or not done:
        run.status, run.reason = "timeout", "the receiver did not finish (no `covert: done`)"
        return run
    if sorted(values) != list(range(run.slots)) or run.slots != len(expected):
        run.status, run.reason = "error", (f"the receiver printed {len(values)} measurements of "
                                           f"{run.slots} slots; {len(expected)} expected")
        return run
    run.values = [values[i] for i in range(run.slots)]
    run.decoded = decode(run.values, expected)
    return run


def pair_scenario(path: Path, *, seed: int, bits: int, t0_ms: int, slot_us: int, append: str = "",
                  receiver_words: str = "") -> tuple[Any, str]:
    """The pair's scenario with the run's parameters in both command lines; the receiver's name."""
    from moat import scenario

    scen = scenario.load(path)
    words = f"seed={seed} n={bits} t0={t0_ms} slot={slot_us}"
    receiver = None
    domains = []
    for d in scen.domains:
        roles = [w for w in d.cmdline.split() if w.startswith("role=")]
        if roles and roles[0] == "role=send":
            domains.append(replace(d, cmdline=f"{d.cmdline} {words}"))
        elif roles and roles[0] == "role=recv":
            # A word given later wins (cmdline_get finds the first: so drop the scenario's own).
            keys = {w.split("=", 1)[0] for w in receiver_words.split()}
            own = " ".join(w for w in d.cmdline.split() if w.split("=", 1)[0] not in keys)
            domains.append(replace(d, cmdline=" ".join(x for x in (own, words, receiver_words) if x)))
            receiver = d.name
        else:
            domains.append(d)
    if receiver is None:
        from moat.errors import UserError

        raise UserError(f"{path}: no domain with role=recv on its command line")
    hv = replace(scen.hypervisor, cmdline=" ".join(w for w in (scen.hypervisor.cmdline, append) if w))
    return replace(scen, domains=domains, hypervisor=hv), receiver


def run_pair(pair: Pair, root: Path, *, mode: str = "icount", append: str = "", bits: int = DEFAULT_BITS,
             seed: int = DEFAULT_SEED, timeout: float = 120.0, log_dir: Path | None = None,
             scenario_path: Path | None = None,
             on_line: Callable[[str], None] | None = None) -> Run:
    """Boot one pair once (icount, or plain TCG) and decode what its receiver measured."""
    from moat import paths, qemu

    path = scenario_path or covert_dir(root) / pair.scenario
    mitigated = bool(append)  # a run with the channel's mitigation (or another hypervisor option)
    slot_us = pair.mitigated_slot_us if mitigated and pair.mitigated_slot_us else pair.slot_us
    # Plain TCG boots take wall-clock time, which the guests see: start later.
    t0_ms = pair.t0_ms + (TCG_EXTRA_T0_MS if mode == "tcg" else 0)
    scen, receiver = pair_scenario(path, seed=seed, bits=bits, t0_ms=t0_ms, slot_us=slot_us, append=append,
                                   receiver_words=pair.mitigated_receiver if mitigated else "")
    tag = "-".join(w.replace("=", "-").replace(",", "-") for w in append.split())
    run = Run(pair.name, mode, append)
    stem = scenario_path.stem if scenario_path is not None else pair.name
    run.log = (log_dir or paths.build_dir(root) / "covert-logs") / f"{stem}-{mode}{'-' + tag if tag else ''}.log"
    kernel = paths.require_built(paths.hv_image(scen.hypervisor.build, root=root))
    boot = qemu.boot(kernel, scen.hypervisor.cmdline, scen.module_pairs(), timeout=timeout, log=run.log,
                     memory=scen.hypervisor.memory, icount=mode == "icount", on_line=on_line, cwd=root,
                     smp=scen.hypervisor.cpus or 1, extra_args=["-seed", str(seed & 0x7FFF_FFFF)])
    parse_console(run, boot.lines, receiver, expected_bits(seed, bits))
    if boot.status is qemu.Status.TIMEOUT:
        if run.status == "ok":  # everything measured, only the end did not come: keep the figures
            return run
        run.status, run.reason = "timeout", f"{boot.describe()}; {run.reason}".rstrip("; ")
    elif boot.status is qemu.Status.CRASH and run.status != "ok":
        run.status, run.reason = "crash", boot.describe()
    elif boot.status is not qemu.Status.SUCCESS and run.status == "ok":
        run.reason = boot.describe()  # measured, but the system did not end well: say so
    return run


# ---- a channel's figures: default and mitigated, icount and TCG ---------------------------------


@dataclass
class Result:
    name: str
    mechanism: str
    default: Run
    mitigated: Run | None = None  # with its mitigation (`mitigate=...`, `sched=partition`), when it has one
    tcg: Run | None = None
    scenario: Path | None = None  # a scenario file given instead of the pair's own

    @property
    def title(self) -> str:
        return f"{self.scenario.stem} ({self.name})" if self.scenario is not None else self.name

    @property
    def mitigation(self) -> str | None:
        return inventory.entry(self.name).mitigation

    @property
    def status(self) -> str:
        runs = [r for r in (self.default, self.mitigated, self.tcg) if r is not None]
        for status in ("crash", "error", "timeout"):
            if any(r.status == status for r in runs):
                return status
        return "ok"

    def to_json(self) -> dict[str, Any]:
        def figures(run: Run | None) -> dict[str, Any] | None:
            if run is None:
                return None
            return {"status": run.status, "reason": run.reason, "bits_per_minsn": _round(run.rate()),
                    "error_rate": _round(run.error_rate), "capacity_bits_per_minsn": _round(run.capacity()),
                    "hypervisor_options": run.append}

        d = self.default
        out: dict[str, Any] = {
            "name": self.name,
            "mechanism": self.mechanism,
            "bits_per_minsn": _round(d.rate()),
            "error_rate": _round(d.error_rate),
            "capacity_bits_per_minsn": _round(d.capacity()),
            "mitigated": self.mitigated is not None,
            "status": d.status,
            "reason": d.reason,
            "mitigation": self.mitigation,
            "after": figures(self.mitigated),
        }
        if self.tcg is not None:
            out["tcg"] = {"status": self.tcg.status, "reason": self.tcg.reason,
                          "bits_per_second": _round(self.tcg.rate()), "error_rate": _round(self.tcg.error_rate),
                          "capacity_bits_per_second": _round(self.tcg.capacity())}
        return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def measure(pair: Pair, root: Path, *, bits: int = DEFAULT_BITS, seed: int = DEFAULT_SEED, tcg: bool = False,
            mitigated: bool = True, timeout: float = 120.0, log_dir: Path | None = None,
            scenario_path: Path | None = None, on_line: Callable[[str], None] | None = None) -> Result:
    """A channel's figures: the default configuration, and with its mitigation when there is one."""
    entry = inventory.entry(pair.name)

    def boot(mode: str = "icount", append: str = "") -> Run:
        return run_pair(pair, root, mode=mode, append=append, bits=bits, seed=seed, timeout=timeout,
                        log_dir=log_dir, scenario_path=scenario_path, on_line=on_line)

    result = Result(pair.name, entry.mechanism, boot(), scenario=scenario_path)
    if mitigated and entry.mitigation:
        result.mitigated = boot(append=entry.mitigation)
    if tcg:
        result.tcg = boot("tcg")
    return result
