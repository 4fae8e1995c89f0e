# SPDX-License-Identifier: MIT
"""The XTF result protocol: `Test result: SUCCESS|SKIP|ERROR|FAILURE[: reason]`.

A test ends with one such line; no line means the test CRASHed. The outcome of
a boot combines that line with the hypervisor's exit status (moat.qemu.Status).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Xtf(enum.StrEnum):
    SUCCESS = "SUCCESS"
    SKIP = "SKIP"
    ERROR = "ERROR"
    FAILURE = "FAILURE"


class Outcome(enum.StrEnum):
    """What a boot test finally reports: an XTF result, or CRASH."""

    SUCCESS = "SUCCESS"
    SKIP = "SKIP"
    ERROR = "ERROR"
    FAILURE = "FAILURE"
    CRASH = "CRASH"


_RESULT = re.compile(r"Test result: (SUCCESS|SKIP|ERROR|FAILURE)\b(?::\s*(.*))?")


@dataclass(frozen=True)
class XtfLine:
    result: Xtf
    reason: str


def parse_line(line: str) -> XtfLine | None:
    """The result on one console line, or None when it is not a result line."""
    m = _RESULT.search(line)
    if not m:
        return None
    return XtfLine(Xtf(m.group(1)), (m.group(2) or "").strip())


def parse(console: str) -> XtfLine | None:
    """The last result line of a console log (the one that counts), or None."""
    found = None
    for line in console.splitlines():
        parsed = parse_line(line)
        if parsed is not None:
            found = parsed
    return found


def outcome(xtf: Xtf | None, status: str) -> Outcome:
    """Combine the XTF line with the exit status ('SUCCESS', 'FAILURE', 'CRASH', 'TIMEOUT').

    No result line, a crash or a timeout is CRASH. A SUCCESS line counts only when
    the hypervisor also stopped with success; otherwise it is a FAILURE.
    """
    if status in ("CRASH", "TIMEOUT") or xtf is None:
        return Outcome.CRASH
    if xtf is Xtf.SUCCESS and status != "SUCCESS":
        return Outcome.FAILURE
    return Outcome(xtf.value)
