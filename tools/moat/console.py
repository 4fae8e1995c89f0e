# SPDX-License-Identifier: MIT
"""The hypervisor's console lines about domains (docs/CONTRACTS.md), read back for reports.

    domain <id> '<name>' created: <n> KiB, image module <i>, ssidref 0x<hex>, cpu <k>[ (pinned)]
    domain '<name>' not created: error <-errno>
    domain <id> '<name>' crashed: vector=... rip=0x...
    domain <id> '<name>' stopped: poweroff|reboot|crash|killed[: <why>]
    moat: all domains stopped: <n> as expected, <m> not

The hypervisor's error numbers are Linux's (as in Xen); explain_errno() names them.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

_CREATED = re.compile(r"^domain (\d+) '([^']*)' created: (\d+) KiB, image module (\d+), ssidref (0x[0-9a-f]+)"
                      r"(?:, cpu \d+(?: \(pinned\))?)?$")
_NOT_CREATED = re.compile(r"^domain '([^']*)' not created: error (-\d+)$")
_CRASHED = re.compile(r"^domain (\d+) '([^']*)' crashed: (.*)$")
_STOPPED = re.compile(r"^domain (\d+) '([^']*)' stopped: (\w+)(?:: (.*))?$")
_ALL_STOPPED = re.compile(r"^moat: all domains stopped: (\d+) as expected, (\d+) not$")

# What a domain-creation error most likely means here (the number and name come from errno).
_WHY = {
    errno.ENOMEM: "not enough free memory for the domain",
    errno.EPERM: "the security policy refused it (a Chinese Wall conflict, or no permission)",
    errno.EACCES: "the security policy refused it",
    errno.EINVAL: "a value the hypervisor does not accept (a label outside the policy, a limit out of range)",
    errno.ENOSPC: "no free domain slot",
    errno.E2BIG: "the image does not fit the domain's memory",
    errno.ENOENT: "no such image module",
    errno.ENOEXEC: "the image is not an ELF file the hypervisor can load",
}


def explain_errno(code: int) -> str:
    """'-12' -> 'ENOMEM (Cannot allocate memory): not enough free memory for the domain'."""
    n = abs(code)
    name = errno.errorcode.get(n, f"error {n}")
    why = _WHY.get(n)
    return f"{name} ({os.strerror(n)})" + (f": {why}" if why else "")


@dataclass
class DomainEnd:
    name: str
    id: int | None = None
    created: bool = False
    memory_kib: int | None = None
    ssidref: str | None = None
    error: str | None = None  # why it was not created
    end: str | None = None  # poweroff, reboot, crash, killed; None while it ran
    why: str | None = None  # the stop line's reason, or the crash line


@dataclass
class Summary:
    domains: list[DomainEnd] = field(default_factory=list)
    as_expected: int | None = None
    not_as_expected: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"domains": [asdict(d) for d in self.domains],
                "all_stopped": None if self.as_expected is None
                else {"as_expected": self.as_expected, "not": self.not_as_expected}}


def explain_line(line: str) -> str | None:
    """A plain-words note for a line that reports a domain the hypervisor did not create."""
    m = _NOT_CREATED.match(line)
    if not m:
        return None
    return f"moat: domain {m.group(1)!r} was not created: {m.group(2)} is {explain_errno(int(m.group(2)))}"


def summarize(lines: list[str]) -> Summary:
    """Every domain's creation and end, and the hypervisor's count, from a console log."""
    out = Summary()
    by_id: dict[int, DomainEnd] = {}
    for line in lines:
        if m := _CREATED.match(line):
            d = DomainEnd(m.group(2), int(m.group(1)), True, int(m.group(3)), m.group(5))
            by_id[d.id] = d  # type: ignore[index]
            out.domains.append(d)
        elif m := _NOT_CREATED.match(line):
            out.domains.append(DomainEnd(m.group(1), error=f"{m.group(2)} {explain_errno(int(m.group(2)))}"))
        elif m := _CRASHED.match(line):
            dom = by_id.get(int(m.group(1)))
            if dom is not None:
                dom.why = m.group(3)
        elif m := _STOPPED.match(line):
            dom = by_id.get(int(m.group(1)))
            if dom is None or dom.name != m.group(2):  # a domain a guest created at run time
                dom = DomainEnd(m.group(2), int(m.group(1)), True)
                by_id[int(m.group(1))] = dom
                out.domains.append(dom)
            dom.end = m.group(3)
            dom.why = m.group(4) or dom.why
        elif m := _ALL_STOPPED.match(line):
            out.as_expected, out.not_as_expected = int(m.group(1)), int(m.group(2))
    return out
