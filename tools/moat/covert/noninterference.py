# SPDX-License-Identifier: MIT
"""Noninterference by experiment (`moat noninterference`, docs/covert-channels.md).

Under -icount (with QEMU's random numbers seeded) a boot is exactly reproducible, so whether a
secret of one domain (high) changes anything another domain (low) observes is a question one can
answer by booting the scenario several times, each time with another secret on high's command
line (`secret=0x...`), and comparing low's view:

  out: <line>        every line low printed (what it saw: a well-written observer prints all,
                     its own TSC readings included, as key=value words)
  hc: nr= op= ret=   with --hypercalls: every hypercall low made and its result, from the test
                     build's hypercall log (hv/include/moat/hclog.h)
  end: <how>         how low ended (the hypervisor's stopped or crashed line)

The first difference is located (observation, word) and named after the inventory entry that
explains it (moat.covert.inventory): a time reading is a timing channel (cpu when the difference
is a scheduling-sized one, tick when it is a few hypervisor instructions), a new domain's id is
domid, a create's -ENOMEM frames, -ENOSPC domtable, -EPERM chwall. A difference the inventory
does not explain is reported as such: a channel the inventory is missing. The comparison is then
repeated with every time reading masked: if that view is the same in every run, noninterference
holds for everything but timing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from moat.covert import inventory

# Secrets of the first runs: every bit differs between the first two, then other patterns.
SECRETS = (0x0, 0xFFFF_FFFF_FFFF_FFFF, 0x5555_5555_5555_5555, 0xAAAA_AAAA_AAAA_AAAA,
           0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210)
QEMU_SEED = 1  # QEMU's -seed: RDRAND (the domid mitigation's key) the same in every run

_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)")
_TIME_KEYS = re.compile(r"^(tsc|ns|t|time|cycles|lat)$|(_tsc|_ns|_time|_cycles)$|^tsc[0-9]$|^ns[0-9]$")
SET_TIMER_OP = 15
CONSOLE_IO = 18
DOMCTL = 36
CREATE = 1
# A time difference below this (ns, or TSC counts: one per ns under icount) is hypervisor work
# (tick, hypercall paths); above it, another domain ran instead (scheduling).
SCHEDULING_NS = 100_000
ERRNO_CHANNEL = {-12: "frames", -28: "domtable", -1: "chwall", -3: "exist"}


def is_time_key(key: str) -> bool:
    return bool(_TIME_KEYS.search(key))


def words(observation: str) -> list[tuple[str, str]]:
    """The key=value words of one observation, in order; a word without '=' is its own key."""
    out = []
    for w in observation.split():
        m = _WORD.fullmatch(w)
        out.append((m[1], m[2]) if m else (w, ""))
    return out


def mask_time(observation: str) -> str:
    """The observation with every time reading replaced by '*' (and a set_timer_op's deadline)."""
    if observation.startswith("hc: ") and f" nr={SET_TIMER_OP} " in f" {observation} ":
        return re.sub(r"\bop=\S+", "op=*", observation)
    if observation.startswith("hc: ") and f" nr={CONSOLE_IO} " in f" {observation} ":
        # A console write returns the length of low's own line, whose time readings are masked:
        # a time reading with one more digit makes it one byte longer.
        return re.sub(r"\bret=\S+", "ret=*", observation)
    return " ".join(f"{k}=*" if v and is_time_key(k) else (f"{k}={v}" if v else k)
                    for k, v in words(observation))


def low_view(lines: Sequence[str], low: str) -> tuple[list[str], int | None]:
    """What the low domain observed in one boot, in order; and its domain id (None: not created)."""
    created = re.compile(rf"^domain (\d+) '{re.escape(low)}' created: ")
    low_id = None
    for line in lines:
        if m := created.match(line):
            low_id = int(m[1])
            break
    if low_id is None:
        return [], None
    out_prefix, hc_prefix = f"(d{low_id}) ", f"hc: d{low_id} "
    end = re.compile(rf"^domain {low_id} '{re.escape(low)}' (stopped|crashed): (.*)$")
    view: list[str] = []
    for line in lines:
        if line.startswith(out_prefix):
            view.append("out: " + line[len(out_prefix):])
        elif line.startswith(hc_prefix):
            view.append("hc: " + line[len(hc_prefix):])
        elif m := end.match(line):
            view.append(f"end: {m[1]}: {m[2]}")
            break  # the id may be reused after this
    return view, low_id


@dataclass
class Divergence:
    index: int  # observation number (0-based)
    base: str | None  # None: the view ended earlier
    other: str | None
    key: str | None  # the first differing word's key
    base_value: str | None
    other_value: str | None
    channel: str  # an inventory id, or "unknown"
    timing: bool  # a time reading (masked in the functional comparison)

    def explain(self) -> str:
        if self.key is None:
            return "the views have different lengths" if self.base is None or self.other is None \
                else "the observations differ"
        delta = ""
        if self.base_value is not None and self.other_value is not None:
            try:
                d = int(self.other_value, 0) - int(self.base_value, 0)
                delta = f", difference {d:+d}"
            except ValueError:
                pass
        return f"{self.key}: {self.base_value} vs {self.other_value}{delta}"

    def channel_text(self) -> str:
        if self.channel == "unknown":
            return "not explained by the inventory (a channel it is missing?)"
        e = inventory.entry(self.channel)
        return f"{e.id} ({e.title})"


def _int(value: str | None) -> int | None:
    try:
        return int(value, 0) if value is not None else None
    except ValueError:
        return None


def attribute(base: str | None, other: str | None, *, skip_time: bool = False) -> Divergence:
    """Locate the first differing word of two observations and name the channel behind it
    (skip_time: the first one that is not a time reading)."""
    d = Divergence(0, base, other, None, None, None, "unknown", False)
    if base is None or other is None:
        return d
    bw, ow = words(base), words(other)
    for (bk, bv), (ok, ov) in zip(bw, ow, strict=False):
        if skip_time and bk == ok and mask_time(f"{bk}={bv}") == mask_time(f"{ok}={ov}"):
            continue
        if bk != ok or bv != ov:
            d.key, d.base_value, d.other_value = bk, bv, ov
            break
    else:
        if len(bw) != len(ow):
            d.key = "(length)"
        return d
    hc = base.startswith("hc: ")
    fields = dict(bw)
    if hc:
        nr, op = _int(fields.get("nr")), _int(fields.get("op"))
        if nr == SET_TIMER_OP and d.key == "op":
            d.timing = True
        elif nr == DOMCTL and op == CREATE and d.key == "out":
            d.channel = "domid"
        elif nr == DOMCTL and op == CREATE and d.key == "ret":
            d.channel = ERRNO_CHANNEL.get(_int(d.base_value) or _int(d.other_value) or 0, "unknown")
    elif d.key is not None and is_time_key(d.key):
        d.timing = True
    elif d.key in ("child", "id", "domid"):
        d.channel = "domid"
    elif d.key in ("create", "rc", "ret"):
        a, b = _int(d.base_value), _int(d.other_value)
        errno = a if a else b
        d.channel = ERRNO_CHANNEL.get(errno or 0, "unknown")
    elif {_int(d.base_value), _int(d.other_value)} & {-3}:
        d.channel = "exist"
    if d.timing:
        a, b = _int(d.base_value), _int(d.other_value)
        big = a is not None and b is not None and abs(a - b) >= SCHEDULING_NS
        d.channel = "cpu" if big else "tick"
    return d


def first_divergence(base: Sequence[str], other: Sequence[str]) -> Divergence | None:
    for i in range(max(len(base), len(other))):
        b = base[i] if i < len(base) else None
        o = other[i] if i < len(other) else None
        if b != o:
            d = attribute(b, o)
            d.index = i
            return d
    return None


@dataclass
class Run:
    secret: int
    status: str  # qemu.Status value
    view: list[str]
    log: Path | None
    describe: str = ""
    control: bool = False  # a repeat of the first secret

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS" or (self.status == "FAILURE" and bool(self.view))


ATTEMPTS = 2  # boots of the whole set when the control disagrees with its twin (see run)


@dataclass
class Report:
    scenario: Path
    high: str
    low: str
    policy_note: str
    runs: list[Run] = field(default_factory=list)
    reproducible: bool = True
    divergences: list[tuple[int, Divergence]] = field(default_factory=list)  # (run index, first difference)
    functional: list[tuple[int, Divergence]] = field(default_factory=list)  # the same, timing masked
    problems: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)  # why an earlier attempt was booted again

    @property
    def verdict(self) -> str:
        if self.problems or not self.reproducible:
            return "UNDECIDED"
        if not self.divergences:
            return "HOLDS"
        return "DIFFERS (timing only)" if not self.functional else "DIFFERS"

    def channels(self) -> list[str]:
        return sorted({d.channel for _, d in self.divergences + self.functional})

    def to_json(self) -> dict[str, Any]:
        def div(i: int, d: Divergence) -> dict[str, Any]:
            return {"secret": hex(self.runs[i].secret), "observation": d.index, "base": d.base, "other": d.other,
                    "key": d.key, "base_value": d.base_value, "other_value": d.other_value,
                    "channel": d.channel, "timing": d.timing}

        return {
            "scenario": str(self.scenario), "high": self.high, "low": self.low, "policy": self.policy_note,
            "verdict": self.verdict, "reproducible": self.reproducible, "problems": self.problems,
            "retries": self.retries,
            "channels": self.channels(),
            "runs": [{"secret": hex(r.secret), "status": r.status, "observations": len(r.view),
                      "control": r.control, "log": str(r.log) if r.log else None} for r in self.runs],
            "divergences": [div(i, d) for i, d in self.divergences],
            "functional_divergences": [div(i, d) for i, d in self.functional],
        }


def compare(report: Report) -> Report:
    """Fill the report's verdict from its runs (the first run is the baseline)."""
    runs = [r for r in report.runs if r.ok]
    bad = [r for r in report.runs if not r.ok]
    for r in bad:
        report.problems.append(f"secret {r.secret:#x}: {r.describe or r.status}")
    if not runs or bad:
        return report
    base = runs[0]
    if not base.view:
        report.problems.append(f"the low domain {report.low!r} observed nothing (was it created? does it print?)")
        return report
    for idx, r in enumerate(report.runs):
        if r is base:
            continue
        d = first_divergence(base.view, r.view)
        if r.control:
            if d is not None:
                report.reproducible = False
                report.problems.append(f"the boot is not reproducible: the same secret {r.secret:#x} gave "
                                       f"another view at observation {d.index}: cannot judge")
            continue
        if d is not None:
            report.divergences.append((idx, d))
        f = first_divergence([mask_time(v) for v in base.view], [mask_time(v) for v in r.view])
        if f is not None:
            # Name the channel from the unmasked observations, and keep the time readings visible.
            g = attribute(base.view[f.index] if f.index < len(base.view) else None,
                          r.view[f.index] if f.index < len(r.view) else None, skip_time=True)
            g.index = f.index
            report.functional.append((idx, g))
    return report


# ---- running ---------------------------------------------------------------------------------


def label_note(scen: Any, high: str, low: str) -> str:
    """What the policy says about the two domains' labels: may they share, do they conflict."""
    from moat import bootpolicy
    from moat.policy import read_policy

    source = scen.policy or bootpolicy.DEFAULT_POLICY
    pol = read_policy(source)
    doms = {d.name: d for d in scen.domains}

    def label(name: str) -> str | None:
        d = doms[name]
        if isinstance(d.label, str):
            return d.label
        if d.label is None:
            return pol.bootstrap if d.privileged else ("domU" if scen.policy is None else None)
        return None

    lh, ll = label(high), label(low)
    vms = {v.name: v for v in pol.vm_labels}
    if lh not in vms or ll not in vms:
        return f"labels {lh or '?'} and {ll or '?'} (not both found in the policy)"
    ste = {t.name for t in vms[lh].ste} & {t.name for t in vms[ll].ste}
    ch, cl = {t.name for t in vms[lh].chwall}, {t.name for t in vms[ll].chwall}
    conflict = [c.name for c in pol.conflict_sets
                if {t.name for t in c.types} & ch and {t.name for t in c.types} & cl and
                ({t.name for t in c.types} & ch) != ({t.name for t in c.types} & cl)]
    share = (f"share the STE types {', '.join(sorted(ste))}: the policy lets them talk, so a difference "
             "is no covert channel" if ste else "share no STE type: the policy allows them no channel")
    wall = f"; in the Chinese Wall they conflict ({', '.join(conflict)})" if conflict else ""
    return f"high's label {lh} and low's label {ll} {share}{wall}"


def with_secret(scen: Any, high: str, low: str, secret: int, append: str, hclog: int | None) -> Any:
    domains = [replace(d, cmdline=f"{d.cmdline} secret={secret:#x}".strip()) if d.name == high else d
               for d in scen.domains]
    words_ = [scen.hypervisor.cmdline, append, f"hclog={hclog}" if hclog is not None else ""]
    build = "moat-selftest" if hclog is not None else scen.hypervisor.build
    hv = replace(scen.hypervisor, cmdline=" ".join(w for w in words_ if w), build=build)
    return replace(scen, domains=domains, hypervisor=hv)


def run(scenario_path: Path, root: Path, *, high: str, low: str, runs: int = 2, secrets: Sequence[int] = (),
        control: bool = True, hypercalls: bool = False, append: str = "", timeout: float = 120.0,
        log_dir: Path | None = None, on_run: Callable[[Run], None] | None = None) -> Report:
    """Boot the scenario once per secret (and the first again, as a control) and compare."""
    from moat import paths, qemu, scenario
    from moat.errors import UserError

    scen = scenario.load(scenario_path)
    names = [d.name for d in scen.domains]
    for role, name in (("--high", high), ("--low", low)):
        if name not in names:
            raise UserError(f"{role} {name}: no such domain in {scenario_path} (there are: {', '.join(names)})")
    if high == low:
        raise UserError("--high and --low name the same domain")
    chosen = list(secrets) or [SECRETS[i] if i < len(SECRETS) else (0x9E37_79B9_7F4A_7C15 * i) % (1 << 64)
                               for i in range(runs)]
    if len(set(chosen)) != len(chosen) or len(chosen) < 2:
        raise UserError("at least two different secrets are needed")
    report = Report(scenario_path, high, low, label_note(scen, high, low))
    hclog = names.index(low) if hypercalls else None  # boot domains get ids in file order
    plan = [(s, False) for s in chosen] + ([(chosen[0], True)] if control else [])
    out_dir = log_dir or paths.build_dir(root) / "noninterference-logs"
    for attempt in range(1, ATTEMPTS + 1):
        report = Report(scenario_path, high, low, label_note(scen, high, low), retries=report.retries)
        for i, (secret, is_control) in enumerate(plan):
            scen_i = with_secret(scen, high, low, secret, append, hclog)
            kernel = paths.require_built(paths.hv_image(scen_i.hypervisor.build, root=root))
            log = out_dir / f"{scenario_path.stem}-{i}{'-control' if is_control else ''}.log"
            boot = qemu.boot(kernel, scen_i.hypervisor.cmdline, scen_i.module_pairs(), timeout=timeout, log=log,
                             memory=scen_i.hypervisor.memory, icount=True, cwd=root,
                             smp=scen_i.hypervisor.cpus or 1, extra_args=["-seed", str(QEMU_SEED)])
            view, _ = low_view(boot.lines, low)
            r = Run(secret, str(boot.status), view, log, boot.describe(), is_control)
            report.runs.append(r)
            if on_run is not None:
                on_run(r)
        compare(report)
        if report.reproducible or attempt == ATTEMPTS:
            return report
        # A control that differs from its twin: QEMU promises exact replay only under record/replay,
        # and under -icount a rare race between its I/O thread and the vCPU thread can shift an
        # interrupt by a few instructions when the host is loaded. Boot the whole set again; a
        # second disagreement is reported (a hypervisor that is really not deterministic, reading
        # the host's clock or random numbers, disagrees every time).
        report.retries.append(next(p for p in report.problems if "not reproducible" in p))
    return report
