# SPDX-License-Identifier: MIT
"""Parsers for the hypervisor's domain console lines (docs/scenarios.md), shared by these tests.

    domain <id> '<name>' created: <kib> KiB, image module <m>, ssidref 0x<hex>, cpu <k>[ (pinned)]
    (d<id>) <guest text>
    domain <id> '<name>' crashed: vector=<n> #<MN> rip=0x.. cr2=0x.. err=0x.. [<symbol+0xoff>]
    domain <id> '<name>' stopped: poweroff|reboot|crash|killed[: reason]
    frames: total=.. free=.. used=.. reserved=..            (at boot)
    frames at stop: total=.. free=.. used=.. reserved=..    (after every domain is gone)
    moat: all domains stopped: <n> as expected, <m> not

Domain ids are reused (a created domain takes the lowest free id), so guest lines are attributed
to the domain that holds the id at that point of the log. Domains built by domctl get no
`created` line: they appear with their first line and get their name from their crash or stop.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

CREATED = re.compile(r"^domain (\d+) '([^']*)' created: (\d+) KiB, image module (\d+), ssidref 0x([0-9a-f]+)"
                     r"(?:, cpu (\d+)( \(pinned\))?)?$")
GUEST = re.compile(r"^\(d(\d+)\) (.*)$")
CRASHED = re.compile(r"^domain (\d+) '([^']*)' crashed: vector=(\d+) #(\w+) rip=0x([0-9a-f]+) "
                     r"cr2=0x([0-9a-f]+) err=0x([0-9a-f]+)(?: \[(.+)\])?$")
STOPPED = re.compile(r"^domain (\d+) '([^']*)' stopped: (\w+)(?:: (.*))?$")
FRAMES = re.compile(r"^frames: total=(\d+) free=(\d+) used=(\d+) reserved=(\d+)$")
FRAMES_AT_STOP = re.compile(r"^frames at stop: total=(\d+) free=(\d+) used=(\d+) reserved=(\d+)$")
ALL_STOPPED = re.compile(r"^moat: all domains stopped: (\d+) as expected, (\d+) not$")
XTF = re.compile(r"^Test result: (SUCCESS|SKIP|ERROR|FAILURE)")


@dataclass(frozen=True)
class Crash:
    vector: int
    mnemonic: str
    rip: int
    cr2: int
    err: int
    symbol: str | None


@dataclass
class Domain:
    domid: int
    name: str
    lines: list[str] = field(default_factory=list)
    crash: Crash | None = None
    outcome: str | None = None      # poweroff, reboot, crash, killed
    reason: str | None = None
    ssidref: int | None = None      # from the `created` line (manifest domains only)
    cpu: int | None = None          # the CPU it was placed on, from the same line

    @property
    def result(self) -> str | None:
        """The domain's own XTF result, from its last `Test result:` line."""
        found = None
        for line in self.lines:
            if m := XTF.match(line):
                found = m.group(1)
        return found


@dataclass
class Log:
    domains: list[Domain]            # in order of creation (boot and domctl)
    order: list[tuple[Domain, str]]  # every guest line, in console order
    frames_boot: tuple[int, ...] | None
    frames_stop: tuple[int, ...] | None
    as_expected: int | None
    not_expected: int | None

    def named(self, name: str) -> Domain:
        found = [d for d in self.domains if d.name == name]
        assert len(found) == 1, f"expected one domain named {name!r}, found {len(found)}"
        return found[0]

    def all_named(self, name: str) -> list[Domain]:
        return [d for d in self.domains if d.name == name]


def parse(console: str) -> Log:
    live: dict[int, Domain] = {}
    log = Log([], [], None, None, None, None)

    def domain(domid: int, name: str | None) -> Domain:
        dom = live.get(domid)
        if dom is None or (name is not None and dom.name not in (name, "")):
            dom = live[domid] = Domain(domid, name or "")
            log.domains.append(dom)
        if name is not None:
            dom.name = name
        return dom

    for line in console.splitlines():
        if m := CREATED.match(line):
            live.pop(int(m.group(1)), None)
            created = domain(int(m.group(1)), m.group(2))
            created.ssidref = int(m.group(5), 16)
            created.cpu = int(m.group(6)) if m.group(6) else None
        elif m := GUEST.match(line):
            guest = domain(int(m.group(1)), None)
            guest.lines.append(m.group(2))
            log.order.append((guest, m.group(2)))
        elif m := CRASHED.match(line):
            crashed = domain(int(m.group(1)), m.group(2))
            crashed.crash = Crash(int(m.group(3)), m.group(4), int(m.group(5), 16), int(m.group(6), 16),
                                  int(m.group(7), 16), m.group(8))
        elif m := STOPPED.match(line):
            stopped = domain(int(m.group(1)), m.group(2))
            stopped.outcome, stopped.reason = m.group(3), m.group(4)
            del live[stopped.domid]
        elif m := FRAMES.match(line):
            log.frames_boot = tuple(map(int, m.groups()))
        elif m := FRAMES_AT_STOP.match(line):
            log.frames_stop = tuple(map(int, m.groups()))
        elif m := ALL_STOPPED.match(line):
            log.as_expected, log.not_expected = int(m.group(1)), int(m.group(2))
    return log


def switches(log: Log, prefix: str = "tick ") -> int:
    """How often consecutive lines starting with prefix come from different domains."""
    owners = [dom.domid for dom, text in log.order if text.startswith(prefix)]
    return sum(1 for a, b in itertools.pairwise(owners) if a != b)
