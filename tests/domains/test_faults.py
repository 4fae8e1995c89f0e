# SPDX-License-Identifier: MIT
"""Each kind of guest fault crashes only that guest, with one structured crash record, and the
others finish. One boot of tests/scenarios/faults.toml (a domain per fault plus a survivor);
one test per fault kind reads its domain's record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from moat import paths, qemu
from moat.pytest_plugin import Booter, assert_xtf, log_tail

from . import domlog
from .conftest import GUEST_TIMEOUT, scenario_path

PF, GP, UD, DE, BP = 14, 13, 6, 0, 3
ERR_PRESENT, ERR_WRITE, ERR_USER, ERR_FETCH = 1, 2, 4, 0x10
# faults.toml gives every fault domain 256 KiB: RAM ends at 0x440000, the stack is the top 4
# pages and the guard page lies below it.
RAM_END = 0x400000 + 256 * 1024
GUARD = (RAM_END - 5 * 4096, RAM_END - 4 * 4096)


@dataclass(frozen=True)
class Expect:
    vectors: tuple[int, ...]
    check: Callable[[domlog.Crash], bool] = lambda c: True
    symbol: str | None = None  # the crash record's function (default: do_<kind>)


FAULTS = {
    "hvmem": Expect((PF,), lambda c: c.cr2 == 0xFFFFFFFF80100000 and bool(c.err & ERR_USER)),
    "null": Expect((PF,), lambda c: c.cr2 == 0 and bool(c.err & ERR_USER)),
    "noncanon": Expect((GP,)),
    "cli": Expect((GP,)),
    "hlt": Expect((GP,)),
    "cr3": Expect((GP,)),
    "in": Expect((GP,)),
    "out": Expect((GP,)),
    "wrmsr": Expect((GP,)),
    "lgdt": Expect((GP,)),
    "ud2": Expect((UD,)),
    "int3": Expect((BP, GP)),   # #BP if the gate is open to ring 3, else #GP on the gate
    "int80": Expect((GP,)),
    "de": Expect((DE,)),
    "stack": Expect((PF,), lambda c: GUARD[0] <= c.cr2 < GUARD[1] and bool(c.err & ERR_WRITE)),
    "start_info_write": Expect((PF,), lambda c: c.cr2 == 0x100000
                               and c.err & 7 == ERR_PRESENT | ERR_WRITE | ERR_USER),
    "text_write": Expect((PF,), lambda c: c.err & 7 == ERR_PRESENT | ERR_WRITE | ERR_USER),
    "nx_data": Expect((PF,), lambda c: c.rip == c.cr2 and bool(c.err & ERR_FETCH), symbol=""),
    "nx_rodata": Expect((PF,), lambda c: c.rip == c.cr2 and bool(c.err & ERR_FETCH), symbol=""),
}


@pytest.fixture(scope="module")
def faults_boot(request: pytest.FixtureRequest) -> qemu.BootResult:
    booter = Booter(request.node.nodeid, paths.repo_root())
    return booter(scenario_file=scenario_path("faults"), timeout=GUEST_TIMEOUT)


def test_survivor_finishes_and_all_end_as_expected(faults_boot):
    assert_xtf(faults_boot)
    log = domlog.parse(faults_boot.console)
    survivor = log.named("survivor")
    assert survivor.result == "SUCCESS" and survivor.outcome == "poweroff", log_tail(faults_boot)
    assert [line for line in survivor.lines if line.startswith("tick ")] == [f"tick {i}" for i in range(40)]
    # Every fault domain, the survivor, and a domain that shut itself down with reason crash.
    assert log.named("crash-panic").outcome == "crash", log_tail(faults_boot)
    assert (log.as_expected, log.not_expected) == (len(FAULTS) + 2, 0)
    assert log.frames_boot and log.frames_stop and log.frames_boot[1] == log.frames_stop[1]


def test_every_fault_kind_is_in_the_scenario():
    text = scenario_path("faults").read_text()
    assert sorted(k for k in FAULTS if f'"fault={k}"' in text) == sorted(FAULTS)


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_fault_crashes_only_its_domain(faults_boot, kind):
    log = domlog.parse(faults_boot.console)
    dom = log.named("fault-" + kind.replace("_", "-"))
    want = FAULTS[kind]
    assert dom.lines[:1] == [f"committing fault '{kind}'"], dom.lines
    assert not any("did not stop" in line for line in dom.lines), dom.lines
    if kind != "panic":  # its last line, sent without a newline, printed when the domain was stopped
        assert f"last words before fault '{kind}'" in dom.lines, dom.lines
    crash = dom.crash
    assert crash is not None, f"no crash record for {dom.name}\n{log_tail(faults_boot, 60)}"
    assert crash.vector in want.vectors, crash
    assert want.check(crash), crash
    assert dom.outcome in ("crash", "killed"), dom.outcome
    symbol = f"do_{kind}" if want.symbol is None else want.symbol
    if symbol:
        assert crash.symbol is not None and crash.symbol.startswith(symbol + "+0x"), crash
