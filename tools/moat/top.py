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

    def table(self, title: str) -> Table:
        t = Table(title=title)
        for col in ("id", "domain", "state", "cpu ms", "cpu %", "hypercalls", "ev sent", "ev recv", "grant maps",
                    "copies", "copied", "MAC denials", "pages", "frames", "ports"):
            t.add_column(col, justify="left" if col in ("domain", "state") else "right")
        for key in sorted(self.latest):
            s = self.latest[key]
            pct = self.cpu_percent(key)
            t.add_row(str(s.domid), s.name, "dead" if s.ended else "live", f"{s.cpu_us / 1000:.1f}",
                      "" if pct is None or s.ended else f"{pct:.1f}", str(s.hypercalls), str(s.events_sent),
                      str(s.events_received), str(s.grant_maps), str(s.grant_copies), _bytes(s.grant_copy_bytes),
                      str(s.denials), str(s.pages), str(s.frames), str(s.ports))
        return t


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
        self.live = Live(meter.table("moat run --top"), console=Console(file=sys.stdout), auto_refresh=False)

    def __enter__(self) -> LiveTop:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def on_line(self, line: str) -> None:
        if self.meter.feed(line):
            self.live.update(self.meter.table("moat run --top"), refresh=True)
