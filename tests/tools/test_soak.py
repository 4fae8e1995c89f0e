# SPDX-License-Identifier: MIT
"""`moat soak`'s arithmetic and its reading of the console: every way a soak can go wrong is
reported (tests/domains/test_soak.py runs a real one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moat import scenario
from moat.commands import soak
from moat.errors import UserError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
frames: total=32639 free=31698 used=10 reserved=931
domain 1 'fuzz-1' created: 512 KiB, image module 2, ssidref 0x20002
(d1) ?x?hcfuzz: seed 1: 600 hypercalls, 500 errors (300 ENOSYS), 3 (op, result) pairs, still running
(d1) hcfuzz: pairs 12.3: -3 -14
(d1) hcfuzz: pairs 17.0: +
(d2) hcfuzz: seed 2: 400 hypercalls, 390 errors (200 ENOSYS), 2 (op, result) pairs, still running
(d2) hcfuzz: pairs 12.3: -3
(d2) hcfuzz: pairs 48+: -38
domain 2 'fuzz-2' stopped: poweroff
frames at stop: total=32639 free=31698 used=10 reserved=931
faults at stop: 17 on guest addresses, each answered -EFAULT; none in the hypervisor
moat: all domains stopped: 3 as expected, 0 not
moat: stop: success
"""
FUZZERS = [soak.Fuzzer(1, 600), soak.Fuzzer(2, 400)]


def test_plan_shares_the_calls_out():
    assert soak.plan(10, 5, 3) == [soak.Fuzzer(5, 4), soak.Fuzzer(6, 3), soak.Fuzzer(7, 3)]
    assert sum(f.calls for f in soak.plan(1_000_000, 1, 7)) == 1_000_000


def test_the_scenario_gets_one_domain_per_fuzzer():
    base = scenario.load(ROOT / soak.SCENARIO)
    scen = soak.soak_scenario(base, soak.plan(100, 3, 5))
    fuzzers = [d for d in scen.domains if d.image == soak.FUZZER_IMAGE]
    assert [d.cmdline for d in fuzzers] == [f"seed={s} calls=20" for s in range(3, 8)]
    assert [d.name for d in fuzzers] == [f"fuzz-{i}" for i in range(1, 6)]
    assert [d.name for d in scen.domains if d.image != soak.FUZZER_IMAGE] == ["canary"]
    assert base.domains != scen.domains  # the loaded scenario is left as it was
    with pytest.raises(UserError, match="at most 63 fuzzer domains"):
        soak.soak_scenario(base, soak.plan(100, 1, 64))


def test_a_good_soak():
    rep = soak.analyse(GOOD, FUZZERS, 3)
    assert rep.problems == []
    assert rep.calls == 1000
    assert rep.pairs == {("12.3", "-3"), ("12.3", "-14"), ("17.0", "+"), ("48+", "-38")}
    assert (rep.hypervisor_faults, rep.guest_address_faults) == (0, 17)
    assert (rep.frames_boot, rep.frames_stop) == (31698, 31698)


@pytest.mark.parametrize(("change", "problem"), [
    (("frames at stop: total=32639 free=31698", "frames at stop: total=32639 free=31697"),
     "frames leaked: 31698 free at boot, 31697 at stop"),
    (("moat: all domains stopped", "*** EXCEPTION 14 #PF\nmoat: all domains stopped"),
     "the hypervisor faulted (1 `*** EXCEPTION` or `*** PANIC` reports)"),
    (("moat: all domains stopped", "*** PANIC: BUG_ON(!f) at hv/core/frame.c:129\nmoat: all domains stopped"),
     "the hypervisor faulted (1 "),
    (("domain 2 'fuzz-2' stopped: poweroff", "domain 2 'fuzz-2' crashed: vector=13 #GP rip=0x401000"),
     "a domain crashed: domain 2 'fuzz-2' crashed"),
    (("(d2) hcfuzz: seed 2: 400 hypercalls", "(d2) hcfuzz: seed 2: 399 hypercalls"),
     "the fuzzer with seed 2 made 399 calls, not 400"),
    (("(d2) hcfuzz: seed 2:", "(d2) hcfuzz: seeds 2:"), "the fuzzer with seed 2 did not report"),
    (("(d1) hcfuzz: pairs 17.0: +\n", ""), "domain 1 counted 3 (op, result) pairs but listed 2"),
    (("3 as expected, 0 not", "2 as expected, 1 not"), "domains ended: 2 as expected, 1 not (of 3)"),
    (("frames: total=32639 free=31698 used=10 reserved=931\n", ""), "lacks the boot `frames:`"),
    (("moat: all domains stopped", "frames: audit failed: the table has 31697 free\nmoat: all domains stopped"),
     "the hypervisor's frame counters are wrong: frames: audit failed"),
    (("moat: all domains stopped: 3 as expected, 0 not\n", ""), "did not report that all domains stopped"),
])
def test_what_fails_a_soak(change, problem):
    console = GOOD.replace(*change)
    assert console != GOOD
    problems = soak.analyse(console, FUZZERS, 3).problems
    assert any(problem in p for p in problems), problems
