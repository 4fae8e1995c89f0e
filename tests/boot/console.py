# SPDX-License-Identifier: MIT
"""Parsers for the console lines of docs/CONTRACTS.md, shared by the boot tests."""

from __future__ import annotations

import re
from dataclasses import dataclass

FRAME = 4096

BANNER = re.compile(r"^moat (\S+) x86-64 hypervisor$")
CMDLINE = re.compile(r"^cmdline: (.*)$")
MEM = re.compile(r"^\s+mem \[0x([0-9a-f]{16})-0x([0-9a-f]{16})\) (available|reserved|acpi|nvs|bad)$")
FRAMES = re.compile(r"^frames: total=(\d+) free=(\d+) used=(\d+) reserved=(\d+)$")
MODULE = re.compile(r"^module (\d+): \[0x([0-9a-f]+)-0x([0-9a-f]+)\) (\d+) bytes '(.*)'$")
TIMER = re.compile(r"^timer: lapic (\d+) Hz tick, bus (\d+) kHz, tsc (\d+) kHz$")
EXCEPTION = re.compile(r"^\*\*\* EXCEPTION (\d+) #(\w+) (.*) err=0x([0-9a-f]+)$")
RIP = re.compile(r"^rip=0x([0-9a-f]{16}) rsp=0x([0-9a-f]{16}) rflags=0x([0-9a-f]{16}) cr2=0x([0-9a-f]{16})$")


@dataclass(frozen=True)
class Module:
    index: int
    start: int
    end: int
    size: int
    cmdline: str


def lines_matching(console: str, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    return [m for line in console.splitlines() if (m := pattern.match(line))]


def one(console: str, pattern: re.Pattern[str]) -> re.Match[str]:
    found = lines_matching(console, pattern)
    assert len(found) == 1, f"expected one line matching {pattern.pattern!r}, found {len(found)}"
    return found[0]


def memory_map(console: str) -> list[tuple[int, int, str]]:
    return [(int(m.group(1), 16), int(m.group(2), 16), m.group(3)) for m in lines_matching(console, MEM)]


def whole_available_frames(ranges: list[tuple[int, int, str]]) -> int:
    """Whole 4 KiB frames inside the available ranges (partial frames at the edges don't count)."""
    total = 0
    for start, end, kind in ranges:
        if kind != "available":
            continue
        first = -(-start // FRAME)
        last = end // FRAME
        total += max(0, last - first)
    return total


def modules(console: str) -> list[Module]:
    return [Module(int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4)), m.group(5))
            for m in lines_matching(console, MODULE)]
