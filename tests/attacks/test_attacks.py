# SPDX-License-Identifier: MIT
"""The attack suite (docs/security.md): hostile guests in images/attacks/, booted from
tests/attacks/scenarios/. Every attack prints one verdict line on its domain's console,

    ATTACK <name>: CONTAINED
    ATTACK <name>: BROKEN <why>

and a scenario passes only if every attack listed for it below printed exactly one verdict, all
CONTAINED, nothing else claimed to be an attack, every domain ended as its scenario expects, and
the console was not forged (no escape or carriage-return byte; `moat: stop:` only as the last
line). The scenarios boot in parallel (one test each).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moat import qemu
from moat.pytest_plugin import Booter, assert_status, log_tail

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
TIMEOUT = 180.0  # a few seconds each under TCG; the machine is shared

# scenario -> the attacks it runs (each must print exactly one CONTAINED verdict)
ATTACKS: dict[str, list[str]] = {
    "label": ["create-forged-ssidref", "create-unlabeled-ste-half", "create-ssidref-out-of-range",
              "getssid-forged-ssidref", "getdecision-forged-ssidref", "manifest-forged-ssidref",
              "relabel-forged-ssidref"],
    "probe": ["probe-domctl-getinfo", "probe-domctl-destroy", "probe-domctl-pause", "probe-domctl-unpause",
              "probe-memory-current", "probe-memory-maximum", "probe-getssid", "probe-relabel",
              "probe-evtchn-status", "probe-evtchn-alloc-owner", "probe-evtchn-alloc-remote", "probe-evtchn-bind",
              "probe-evtchn-reset", "probe-grant-map", "probe-grant-copy-source", "probe-grant-copy-dest",
              "probe-grant-setup", "probe-grant-query"],
    "stale_relabel": ["stale-virq-relabel", "stale-virq-relabel-rebind"],
    "stale_policy": ["stale-virq-policy", "stale-virq-policy-rebind"],
    "names": ["name-newline", "name-escape", "name-empty", "name-space", "name-quote", "name-unterminated",
              "console-forge", "policy-name-forge"],
    "smap": ["smap-ac-ticks", "smap-ac-upcalls"],
    "manager": ["manager-pause-other", "manager-unpause-other", "manager-destroy-other", "manager-destroy-system",
                "manager-read-other", "manager-evtchn-other", "manager-reset-other", "manager-gnttab-other",
                "manager-own-label-only", "manager-watch-other", "manager-watch-own"],
    "flood": ["deny-flood", "deny-after-flood", "deny-tail", "deny-flood-counted"],
    # entry and exit: privileged instructions, hypervisor memory, iret, upcalls, a stale TLB
    "priv": ["priv-cli", "priv-hlt", "priv-out", "priv-in", "priv-wrmsr", "priv-rdmsr", "priv-read-cr3",
             "priv-lgdt", "priv-invlpg", "priv-int-timer-vector", "priv-int-0x80", "priv-swapgs", "priv-sysret",
             "priv-sysenter", "priv-compat-mode",
             "mem-read-hv-text", "mem-write-hv", "mem-read-directmap", "mem-exec-hv", "mem-noncanonical",
             "mem-write-start-info", "mem-exec-shared-info", "mem-write-own-code", "mem-exec-data", "iret-iopl",
             "iret-top-of-user-half", "upcall-stack-in-hv", "upcall-stack-unmapped", "upcall-stack-too-low",
             "gnt-tlb-after-unmap"],
    "ptr": ["ptr-console-hv-text", "ptr-console-direct-map", "ptr-console-noncanonical", "ptr-console-across-the-limit",
            "ptr-console-wrapping", "ptr-console-huge-count", "ptr-output-readonly", "ptr-domctl-hv",
            "ptr-grant-batch-hv", "ptr-grant-frame-list-hv", "ptr-poll-ports-hv", "ptr-poll-too-many-ports",
            "ptr-getpolicy-into-hv", "ptr-dumpstats-into-hv", "ptr-setpolicy-from-hv", "ptr-setpolicy-too-big",
            "hypercall-number-range", "iret-noncanonical-rip", "iret-hv-rip", "iret-hv-stack", "iret-frame-in-hv",
            "callback-in-hv", "callback-below-ram"],
    # Xen's grant-table and event-channel advisories (docs/security.md maps each to its XSA)
    "gnt": ["gnt-ops-before-setup", "gnt-ref-out-of-range", "gnt-misaligned-or-foreign-address",
            "gnt-map-over-a-mapping", "gnt-unmap-wrong-address", "gnt-double-unmap", "gnt-forged-handle",
            "gnt-readonly-mapped-writable", "gnt-code-page-writable", "gnt-transitive-entry",
            "gnt-entry-rewritten-while-pinned", "gnt-pin-limit", "gnt-maptrack-exhaustion", "gnt-copy-out-of-page",
            "gnt-copy-batch-statuses", "gnt-batch-count", "gnt-setup-bad-sizes"],
    "evtchn": ["evtchn-port-out-of-range", "evtchn-poll-bad-ports", "evtchn-virq-abuse",
               "evtchn-denial-leaves-nothing", "evtchn-exhaustion", "evtchn-reset-full-table", "evtchn-bind-twice",
               "evtchn-bind-others-ports", "evtchn-closed-port-ops"],
    "reuse": ["evtchn-port-of-a-dead-id", "evtchn-id-reuse", "cache-id-reuse"],
    # a hostile policy author (a label with load_policy)
    "policy": ["policy-truncated", "policy-overflowing-types", "policy-overflowing-rows",
               "policy-offset-past-the-end", "policy-len-lies", "policy-unknown-extension-section",
               "policy-old-extension-version", "policy-type-change", "policy-bad-mode", "policy-too-small",
               "policy-too-big", "policy-bad-cell"],
}

FLOOD_DENIALS = 2201  # tests/attacks/scenarios/flood.toml: n=2000, one more after a pause, tail=200
AUDIT_BURST = 64  # hv/xsm/acm.c
AUDIT_INTERVAL_MS = 50  # hv/xsm/acm.c's AUDIT_INTERVAL_NS
FLOOD_TIME = re.compile(r"^\(d0\) flood: \d+ denials in (\d+) ms$", re.M)
SUPPRESSED = re.compile(r"^MAC audit: (\d+) denial lines of 0:flooder not printed \(rate limit\)$")


def check_flood(console: str) -> None:
    """The flooder's denial lines: a burst, the rest counted, and every denial accounted for."""
    lines = console.splitlines()
    printed = [i for i, line in enumerate(lines) if line.startswith("MAC deny hook=privileged subj=0:flooder ")]
    counted = [(i, int(m[1])) for i, line in enumerate(lines) if (m := SUPPRESSED.match(line))]
    assert counted, "no line says how many denial lines were not printed"
    assert len(printed) + sum(n for _, n in counted) == FLOOD_DENIALS, (len(printed), counted)
    # The flood (about 200 ms with its pauses) is far shorter than the 3.2 s a burst takes to
    # refill: at most the burst and a few refills; the denial after the pause is printed again.
    assert AUDIT_BURST <= len(printed) < FLOOD_DENIALS // 4, len(printed)
    # The denial after the pause is printed again, preceded by the count of the flood's rest; the
    # tail right before the flooder's end leaves lines unprinted, and their count comes at its end.
    assert printed[-1] > printed[AUDIT_BURST - 1]
    # The burst is exactly AUDIT_BURST lines, and each AUDIT_INTERVAL_MS of the flood refills
    # one (each refilled line comes after a line counting the ones not printed before it): the
    # lines printed before the flooder reports its flood are the burst plus one per whole interval
    # the flood lasted by the flooder's clock (its ms are truncated, and its timing wraps the
    # hypercalls: one ms of slack either way). Deterministic under -icount (TIMED).
    ms = int(m[1]) if (m := FLOOD_TIME.search(console)) else None
    assert ms is not None, "the flooder did not say how long its flood took"
    reported = next(i for i, line in enumerate(lines) if FLOOD_TIME.match(line))
    during = sum(1 for i in printed if i < reported)
    least, most = AUDIT_BURST + max(ms - 1, 0) // AUDIT_INTERVAL_MS, AUDIT_BURST + (ms + 1) // AUDIT_INTERVAL_MS
    assert least <= during <= most, (during, ms)
    assert least > AUDIT_BURST, f"the flood ({ms} ms) was too short to see the rate limit refill a line"
    assert any(printed[AUDIT_BURST - 1] < i < printed[-1] for i, _ in counted), counted
    assert counted[-1][0] > printed[-1], "the tail's unprinted lines were not counted at the flooder's end"


EXTRA_CHECKS = {"flood": check_flood}

VERDICT = re.compile(r"^\(d\d+\) ATTACK ([A-Za-z0-9_.-]+): (CONTAINED|BROKEN (.*))$")
MENTION = re.compile(r"ATTACK ")


def verdicts(console: str) -> list[tuple[str, str]]:
    """(name, 'CONTAINED' or 'BROKEN <why>') for every verdict line, in order."""
    out = []
    for line in console.splitlines():
        if m := VERDICT.match(line):
            out.append((m[1], m[2]))
        else:
            assert not MENTION.search(line), f"a line mentions an attack off the verdict format: {line!r}"
    return out


def console_forged(console: str) -> list[str]:
    """What a hostile guest managed to put on the console raw: control bytes, forged stop lines."""
    problems = []
    if "\x1b" in console or "\r" in console:
        problems.append("an escape or carriage-return byte reached the console")
    lines = console.splitlines()
    stops = [i for i, line in enumerate(lines) if line.startswith("moat: stop:")]
    if stops and stops != [len(lines) - 1]:
        problems.append(f"`moat: stop:` starts lines {stops} of {len(lines)}: a forged line")
    return problems


def test_every_scenario_is_listed() -> None:
    on_disk = {p.stem for p in SCENARIOS.glob("*.toml")}
    assert on_disk == set(ATTACKS), f"scenarios without a list of attacks: {on_disk - set(ATTACKS)}, " \
                                    f"listed but missing: {set(ATTACKS) - on_disk}"
    names = [a for attacks in ATTACKS.values() for a in attacks]
    assert len(names) == len(set(names)), "an attack name is used twice"
    assert len(names) >= 40, "the issue asks for at least 40 attacks"


# Scenarios whose checks count against time: booted under -icount, where the guests' clock and the
# hypervisor's advance with instructions only. The flood's lines are the burst plus one per 50 ms
# of the flood by the flooder's clock; on a loaded host QEMU can be descheduled between the
# flooder's first reading and its first denial, and the hypervisor's window is then shorter than
# the flooder measured (seen in CI: 56 ms measured, 64 lines, no refill).
TIMED = {"flood"}


@pytest.mark.parametrize("scenario", sorted(ATTACKS))
def test_attacks_are_contained(boot: Booter, scenario: str) -> None:
    result = boot(scenario_file=SCENARIOS / f"{scenario}.toml", timeout=TIMEOUT, icount=scenario in TIMED)
    got = verdicts(result.console)
    names = [n for n, _ in got]
    tail = log_tail(result)
    broken = [f"{n}: {v}" for n, v in got if v != "CONTAINED"]
    assert not broken, "attacks that broke through:\n  " + "\n  ".join(broken) + "\n" + tail
    missing = [a for a in ATTACKS[scenario] if a not in names]
    assert not missing, f"no verdict from {missing}\n{tail}"
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"more than one verdict from {twice}\n{tail}"
    unknown = sorted(set(names) - set(ATTACKS[scenario]))
    assert not unknown, f"verdicts of attacks not listed for {scenario}: {unknown}"
    assert not console_forged(result.console), console_forged(result.console)
    if scenario in EXTRA_CHECKS:
        EXTRA_CHECKS[scenario](result.console)
    assert_status(result, qemu.Status.SUCCESS)
