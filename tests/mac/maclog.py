# SPDX-License-Identifier: MIT
"""The hypervisor's MAC console lines (docs/mac.md, "Audit"), parsed for the tests.

    MAC deny hook=<hook> subj=<domid>:<name>|boot [obj=<domid>:<name>|obj=new:<name>] [op=<op>] ssid=0x<8 hex>/0x<8 hex>
    MAC revoke evtchn <domid>:<name> port <p> <-> <domid>:<name>
    MAC revoke grant <domid>:<name> handle <h> of <domid>:<name>
    MAC revoke virq <domid>:<name> port <p> VIRQ_DOM_EXC (no read_state)

Each is printed whole by one printk, even when several CPUs print at once (tests/smp/test_smp_races.py
checks every line of its races here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from moat import qemu
from moat.pytest_plugin import assert_xtf, log_tail
from tests.domains import domlog

HOOKS = ("domain_create", "evtchn_unbound", "evtchn_bind", "grant_map", "grant_copy", "grant_setup", "privileged",
         "device")
DENY = re.compile(r"^MAC deny hook=(\w+) subj=(boot|\d+:[\w.-]+)"
                  r"(?: obj=((?:\d+|new|absent):[\w.-]+))?(?: op=([\w-]+))? "
                  r"ssid=0x([0-9a-f]{8})/0x([0-9a-f]{8})$")

REVOKE = re.compile(r"^MAC revoke (?:evtchn \d+:[\w.-]+ port \d+ <-> \d+:[\w.-]+"
                    r"|grant \d+:[\w.-]+ handle \d+ of \d+:[\w.-]+"
                    r"|virq \d+:[\w.-]+ port \d+ VIRQ_DOM_EXC \(no read_state\))$")


@dataclass(frozen=True)
class Deny:
    hook: str
    subj: str
    obj: str | None
    op: str | None
    subj_ssid: int
    obj_ssid: int


def denials(console: str) -> list[Deny]:
    """Every `MAC deny` line; a line that starts so but does not match the format is an error."""
    out = []
    for line in console.splitlines():
        if not line.startswith("MAC deny"):
            continue
        m = DENY.match(line)
        assert m, f"a MAC deny line off the documented format: {line!r}"
        assert m.group(1) in HOOKS, line
        out.append(Deny(m.group(1), m.group(2), m.group(3), m.group(4), int(m.group(5), 16), int(m.group(6), 16)))
    return out


def revocations(console: str) -> list[str]:
    """Every `MAC revoke` line; a line that starts so but does not match the format is an error."""
    out = [line for line in console.splitlines() if line.startswith("MAC revoke")]
    for line in out:
        assert REVOKE.match(line), f"a MAC revoke line off the documented format: {line!r}"
    return out


def guest_fails(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("Fail:", "Error:"))]


def controller(result: qemu.BootResult, steps: list[str]) -> domlog.Log:
    """The MAC controller `ctl` reported no failure, every step line, and SUCCESS; its log."""
    log = domlog.parse(result.console)
    ctl = log.named("ctl")
    fails = guest_fails(ctl.lines)
    assert not fails, "\n".join(fails) + "\n" + log_tail(result)
    assert_xtf(result)
    for step in steps:
        assert step in ctl.lines, f"{step!r} missing\n{log_tail(result)}"
    return log
