# SPDX-License-Identifier: MIT
"""Per-domain metering from the hypervisor's `stats:` lines (docs/resource-control.md).

The hypervisor prints one line per live domain every N ms with `stats=N` on its command line,
and one last line (ending in `end`) for every domain when it dies. `moat run --top` shows the
latest line of each domain as a live table (rich), like xentop; every `moat run` ends with a
summary table of each domain's last line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import TextIO

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

_LINE = re.compile(
    r"stats: t=(?P<t>\d+) d=(?P<d>\d+) name=(?P<name>\S+) cpu=(?P<cpu>\d+) hc=(?P<hc>\d+) "
    r"ev=(?P<sent>\d+)/(?P<received>\d+) gm=(?P<gm>\d+) gc=(?P<gc>\d+)/(?P<gcb>\d+) deny=(?P<deny>\d+) "
    r"mem=(?P<mem>\d+) fr=(?P<fr>\d+) ports=(?P<ports>\d+)(?P<end> end)?$"
)
DEFAULT_PERIOD_MS = 200


@dataclass
class DomainStats:
    """One `stats:` line."""

    t_ms: int
    domid: int
    name: str
    cpu_us: int
    hypercalls: int
    events_sent: int
    events_received: int
    grant_maps: int
    grant_copies: int
    grant_copy_bytes: int
    denials: int
    pages: int
    frames: int
    ports: int
    ended: bool


def parse(line: str) -> DomainStats | None:
    """A `stats:` line (anywhere in a console line), or None."""
    at = line.find("stats: t=")
    m = _LINE.match(line[at:]) if at >= 0 else None
    if m is None:
        return None
    n = {k: int(v) for k, v in m.groupdict().items() if k not in ("name", "end") and v is not None}
    return DomainStats(n["t"], n["d"], m["name"], n["cpu"], n["hc"], n["sent"], n["received"], n["gm"], n["gc"],
                       n["gcb"], n["deny"], n["mem"], n["fr"], n["ports"], m["end"] is not None)


class Meter:
    """The latest line of every domain seen, keyed by (id, name): a reused id is another domain."""

    def __init__(self) -> None:
        self.latest: dict[tuple[int, str], DomainStats] = {}
        self.previous: dict[tuple[int, str], DomainStats] = {}

    def feed(self, line: str) -> bool:
        s = parse(line)
        if s is None:
            return False
        key = (s.domid, s.name)
        if key in self.latest and not self.latest[key].ended:
            self.previous[key] = self.latest[key]
        self.latest[key] = s
        return True

    def cpu_percent(self, key: tuple[int, str]) -> float | None:
        """CPU use between its last two lines, in percent of one CPU."""
        a, b = self.previous.get(key), self.latest[key]
        if a is None or b.t_ms <= a.t_ms:
            return None
        return 100.0 * (b.cpu_us - a.cpu_us) / ((b.t_ms - a.t_ms) * 1000)

    def table(self, title: str, width: int | None = None) -> Table:
        """Every domain's latest line. A console narrower than the full table (COMPACT_BELOW,
        e.g. an 80-column terminal) gets the columns an operator watches, like xentop's, each
        readable, instead of fifteen cut to one letter."""
        compact = width is not None and width < COMPACT_BELOW
        t = Table(title=title, box=None if compact else box.HEAVY_HEAD)  # no rules: 2 columns more
        for col in COMPACT if compact else FULL:
            t.add_column(col, justify="left" if col in ("domain", "state") else "right",
                         no_wrap=True)
        for key in sorted(self.latest):
            s = self.latest[key]
            pct = self.cpu_percent(key)
            cells = {"id": str(s.domid), "domain": s.name, "state": "dead" if s.ended else "live",
                     "cpu ms": f"{s.cpu_us / 1000:.1f}", "cpu %": "" if pct is None or s.ended else f"{pct:.1f}",
                     "hypercalls": str(s.hypercalls), "ev sent": str(s.events_sent),
                     "ev recv": str(s.events_received), "grant maps": str(s.grant_maps),
                     "copies": str(s.grant_copies), "copied": _bytes(s.grant_copy_bytes),
                     "MAC denials": str(s.denials), "pages": str(s.pages), "frames": str(s.frames),
                     "ports": str(s.ports)}
            cells |= {"hcalls": cells["hypercalls"], "events": str(s.events_sent + s.events_received),
                      "deny": cells["MAC denials"]}
            t.add_row(*(cells[col] for col in (COMPACT if compact else FULL)))
        return t


FULL = ("id", "domain", "state", "cpu ms", "cpu %", "hypercalls", "ev sent", "ev recv", "grant maps", "copies",
        "copied", "MAC denials", "pages", "frames", "ports")
COMPACT = ("id", "domain", "state", "cpu ms", "cpu %", "hcalls", "events", "deny", "frames")
COMPACT_BELOW = 150  # columns the full table needs with short domain names


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n //= 1024
    return str(n)  # pragma: no cover - the loop always returns


def summary(meter: Meter, out: TextIO | None = None) -> None:
    """The end-of-run table: every domain's last line (nothing if the console had none)."""
    if not meter.latest:
        return
    Console(file=out or sys.stderr, width=160).print(meter.table("moat: domains at the end of the run"))


class LiveTop:
    """`moat run --top`: the console goes to the log only; the table redraws on every stats line."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.console = Console(file=sys.stdout)
        self.live = Live(self._table(), console=self.console, auto_refresh=False)

    def __enter__(self) -> LiveTop:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def on_line(self, line: str) -> None:
        if self.meter.feed(line):
            self.live.update(self._table(), refresh=True)

    def _table(self) -> Table:
        return self.meter.table("moat run --top", self.console.width)
