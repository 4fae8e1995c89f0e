# SPDX-License-Identifier: MIT
"""The network guests' console lines (docs/networking.md), parsed for the tests.

    link <n>: <a>:<name> <-> <b>:<name>, shared STE types 0x<hex>          (hypervisor, at boot)
    switch: port <i> (<peer>): down: <why>; <n> grants still mapped
    switch: port <i> (<peer>): in <n> out <n> flooded <n> bad-requests <n>; dropped: vlan <n> tagged <n> ...
    switch: stopped: <n> ports down, <e> of <t> grants ended, table: <n> learned, <n> evicted
    ping <ip> vlan <v>: <got>/<count> replies, ...
    closed: <n> grants/mappings held, ports closed
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from moat import qemu
from moat.pytest_plugin import assert_xtf, log_tail
from tests.domains import domlog

PORT_DOWN = re.compile(r"switch: port (\d+) \(([\w.-]+)\): down: (.*); (\d+) grants still mapped")
PORT_COUNTS = re.compile(r"switch: port (\d+) \(([\w.-]+)\): in (\d+) out (\d+) flooded (\d+) bad-requests (\d+); "
                         r"dropped: vlan (\d+) tagged (\d+) untagged (\d+) source (\d+) bad (\d+) full (\d+)")
STOPPED = re.compile(r"switch: stopped: (\d+) ports down, (\d+) of (\d+) grants ended, table: (\d+) learned, "
                     r"(\d+) evicted")
PING = re.compile(r"ping ([\d.]+) vlan (\d+): (\d+)/(\d+) replies, .*")


@dataclass(frozen=True)
class PortCounts:
    inbound: int
    out: int
    flooded: int
    bad_requests: int
    drop_vlan: int
    drop_tagged: int
    drop_untagged: int
    drop_source: int
    drop_bad: int
    drop_full: int


def port_counts(switch: domlog.Domain) -> dict[str, PortCounts]:
    """Each port's counters, by member name, from the switch's report when the port went down."""
    out = {}
    for line in switch.lines:
        if m := PORT_COUNTS.fullmatch(line):
            out[m[2]] = PortCounts(*map(int, m.groups()[2:]))
    return out


def ports_down(switch: domlog.Domain) -> dict[str, tuple[str, int]]:
    """Why each port went down and how many grants were still mapped then, by member name."""
    return {m[2]: (m[3], int(m[4])) for line in switch.lines if (m := PORT_DOWN.fullmatch(line))}


def stopped(switch: domlog.Domain) -> tuple[int, ...]:
    """(ports, grants ended, grants, learned, evicted) from the switch's last line; () without it."""
    found = [m for line in switch.lines if (m := STOPPED.fullmatch(line))]
    return tuple(map(int, found[-1].groups())) if found else ()


def pings(dom: domlog.Domain) -> list[tuple[str, int, int, int]]:
    """(target, vlan, replies, count) for each ping line."""
    return [(m[1], int(m[2]), int(m[3]), int(m[4])) for line in dom.lines if (m := PING.fullmatch(line))]


def fails(dom: domlog.Domain) -> list[str]:
    return [line for line in dom.lines if line.startswith(("Fail:", "Error:"))]


def gave_back(dom: domlog.Domain) -> bool:
    """The node closed its link and nothing stayed: no grant, no mapping, no port."""
    return "closed: 0 grants/mappings held, ports closed" in dom.lines


def checked(result: qemu.BootResult) -> tuple[domlog.Log, str]:
    """A boot that must have ended in SUCCESS: its parsed log and its tail (for messages).

    Tests call it as checked(run_scenario("name")), which is also how tests/domains/test_scenarios.py
    sees which scenarios have a test of their own."""
    assert_xtf(result)
    return domlog.parse(result.console), log_tail(result)
