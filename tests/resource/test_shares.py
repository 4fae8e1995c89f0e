# SPDX-License-Identifier: MIT
"""Proportional share (issue 14 parts 1 and 4), under -icount so the shares are exact: a cap of
20 % holds beside three spinners, on an idle CPU and for a domain of two vCPUs on two CPUs, and
weights 1:2:4 share the CPU 1:2:4.
Without the cap the capped spinner gets a quarter (or all) of the CPU; without the weights each
gets a third: every assertion below fails.

The -icount boots take 2 ns an instruction (shift=1, ICOUNT_SHIFT): the judge's windows are as
long in time (500 ms: 50 periods of a cap, 500 ticks) in half the instructions, half the host's
CPU. The hypervisor's own work per tick weighs twice as much against a domain's, which moves no
share here by more than 0.7 of a point from shift=0's (most by under 0.05)."""

from __future__ import annotations

import re

import pytest

from moat import qemu
from moat.pytest_plugin import Booter, assert_xtf, log_tail
from tests.domains import domlog
from tests.domains.conftest import scenario_path

ICOUNT_SHIFT = 1
SHARE = re.compile(r"share: (\S+) cpu_ns=(\d+) elapsed_ns=(\d+)")
MOST = re.compile(r"most in one period: (\d+) us over \d+ periods$")


def share_figures(result: qemu.BootResult) -> dict[str, float]:
    """Each judged domain's CPU time in percent of the judge's sleep, from its `share:` lines."""
    out = {}
    for line in result.lines:
        m = SHARE.search(line)
        if m:
            out[m[1]] = 100.0 * int(m[2]) / int(m[3])
    return out


def shares(boot: Booter, name: str) -> dict[str, float]:
    """Boots scenario `name` under -icount: share_figures of its judge."""
    result: qemu.BootResult = boot(scenario_file=scenario_path(name), icount=True, icount_shift=ICOUNT_SHIFT,
                                   timeout=240)
    assert_xtf(result)
    return share_figures(result)


def test_cap_20_beside_three_spinners(boot: Booter) -> None:
    s = shares(boot, "share_cap")
    assert abs(s["capped"] - 20.0) <= 1.0, s
    for i in range(3):  # the rest is shared by the three others
        assert abs(s[f"spin-{i}"] - 80.0 / 3) <= 2.0, s


def test_cap_holds_on_an_idle_cpu(boot: Booter) -> None:
    s = shares(boot, "share_cap_idle")
    assert abs(s["capped"] - 20.0) <= 1.0, s


def test_weights_1_2_4(boot: Booter) -> None:
    s = shares(boot, "share_weights")
    total = s["w1"] + s["w2"] + s["w4"]
    for name, part in (("w1", 1), ("w2", 2), ("w4", 4)):
        assert abs(100.0 * s[name] / total - 100.0 * part / 7) <= 2.0, s


def test_label_default_cap_and_scenario_override(boot: Booter) -> None:
    """The policy gives label capped20 `sched = { cap = 20 }`: `capped` (no cap of its own) gets
    20 %, `override` (cap = 40 in the scenario) 40 %, and the three spinners share the rest.
    Without the default, `capped` shares the 60 % left with the spinners (15 % each)."""
    s = shares(boot, "share_label_default")
    assert abs(s["capped"] - 20.0) <= 1.0, s
    assert abs(s["override"] - 40.0) <= 1.0, s
    for i in range(3):
        assert abs(s[f"spin-{i}"] - 40.0 / 3) <= 2.0, s


def test_cap_of_a_domain_on_two_cpus(boot: Booter) -> None:
    """A 2-vCPU domain capped at 20 % of one CPU, its vCPUs spinning on CPUs 0 and 1 at once
    beside three spinners, gets 20 % in all: the budget is the domain's, charged from both CPUs.
    Before the budget was charged from every CPU (vCPU 0's CPU alone kept it, and vCPU 1 ran on
    until CPU 1 saw the park) it got 24.8 %; the spinners share what it leaves."""
    s = shares(boot, "share_cap_vcpus")
    assert abs(s["capped"] - 20.0) <= 1.0, s
    # Its vCPUs really ran on both CPUs at once: each CPU's spinners lost part of their CPU.
    assert s["spin0"] <= 98.0 and s["spin1-0"] + s["spin1-1"] <= 198.0, s
    assert abs(s["spin0"] + s["spin1-0"] + s["spin1-1"] - 180.0) <= 2.0, s



def test_cap_of_a_domain_on_two_idle_cpus(boot: Booter) -> None:
    """The same domain alone on two CPUs, which idle while it is parked: still 20 % in all. With
    the budget charged from every CPU but a parked domain left on the run queues, and refilled
    into a period it owed in full, its queued vCPUs ran a tick a period whatever it owed: 22.5 %."""
    s = shares(boot, "share_cap_vcpus_idle")
    assert abs(s["capped"] - 20.0) <= 1.0, s


def test_a_capped_domain_of_the_most_vcpus_is_parked_and_paused(boot: Booter) -> None:
    """share_cap_8_vcpus: a capped domain of 8 vCPUs, with another capped domain after it, is
    parked and refilled by its cap, paused (it gets no CPU time while paused), unpaused (it runs
    again) and destroyed. A loop over its vCPUs one further reads its struct share's list link
    as a queued vCPU of CPU 0xffffffff: the hypervisor faults."""
    result = boot(scenario_file=scenario_path("share_cap_8_vcpus"), timeout=120)
    assert_xtf(result)
    log = domlog.parse(result.console)
    pauser = log.named("pauser")
    assert pauser.result == "SUCCESS", log_tail(result)
    assert "paused, unpaused and destroyed a capped domain of 8 vcpus" in pauser.lines, log_tail(result)
    assert log.frames_stop == log.frames_boot, log_tail(result)


def test_a_capped_domain_of_the_most_vcpus_under_partitions(boot: Booter) -> None:
    """partition_cap_8_vcpus: the same under sched=partition (two partitions: the pauser's label
    and theirs), big heading the capped list and holding a port in its VIRQ 16 of vCPU 0. A timer
    walk one vCPU further takes that list link for a vCPU that is up on CPU 0 and that port for
    its timer's deadline: the hypervisor faults. And big runs again once unpaused: before, a
    refill queued a parked domain at the head of CPU 0's queue in rqs[], which no partition reads,
    and it never ran again."""
    result = boot(scenario_file=scenario_path("partition_cap_8_vcpus"), cmdline="sched=partition", timeout=120)
    assert_xtf(result)
    assert "sched: partitioned: 2 partitions of 10 ms" in result.console, log_tail(result)
    log = domlog.parse(result.console)
    pauser = log.named("pauser")
    assert pauser.result == "SUCCESS", log_tail(result)
    assert "paused, unpaused and destroyed a capped domain of 8 vcpus" in pauser.lines, log_tail(result)
    assert not any(line.startswith("Fail:") for line in log.named("big").lines), log_tail(result)
    assert log.frames_stop == log.frames_boot, log_tail(result)


def test_a_cap_outlives_an_uncapped_domain_of_the_most_vcpus(boot: Booter) -> None:
    """share_cap_8_vcpus_gone: beside the capped domain and three spinners, an uncapped domain
    of 8 vCPUs is created and powers off at once; the cap still holds at 20 % over the next
    500 ms (judged by share_judge, under -icount). Its struct share, right past its vCPUs, must
    not look listed: its teardown would unlink it from the capped list and take `capped` with it
    (with domain_create's vcpu_info loop one vCPU further, `capped` got 0 %: dropped from the list
    while parked, nothing refilled it)."""
    s = shares(boot, "share_cap_8_vcpus_gone")
    assert "gone" not in s, s  # it had powered off before the judge's window closed
    assert abs(s["capped"] - 20.0) <= 1.5, s


def test_a_parked_domain_runs_no_more_in_its_period(boot: Booter) -> None:
    """share_cap_park_queued (-icount): a domain of 2 vCPUs capped at 25 % (2.5 ms a period of
    10 ms) beside a spinner on one CPU. In no whole period may it run more than its budget and
    the tick that finds it spent (3 ms; 3.5 allowed): when the tick parks it, the vCPU queued
    behind the running one leaves the queue too. Left queued, that vCPU runs a tick more."""
    result: qemu.BootResult = boot(scenario_file=scenario_path("share_cap_park_queued"), icount=True,
                                   icount_shift=ICOUNT_SHIFT, timeout=240)
    assert_xtf(result)
    capped = domlog.parse(result.console).named("capped")
    most = [int(m[1]) for line in capped.lines if (m := MOST.match(line))]
    assert len(most) == 1, capped.lines
    assert 2000 <= most[0] <= 3500, capped.lines


def test_a_weight_below_one_tick_still_gets_a_tick(boot: Booter) -> None:
    """Weight 1 scales the 10 ms slice to 0.04 ms, less than the 1 ms tick: the domain gets one
    tick a turn (1 of every 11 ticks beside a domain of the default weight's 10), and no more.
    A slice of 0 ticks would never run out: the weight-1 spinner would keep the CPU (ticks do
    not end a slice of 0), and the other would get nothing."""
    s = shares(boot, "share_weight_min")
    assert abs(s["tiny"] - 100.0 / 11) <= 2.0, s
    assert abs(s["plain"] - 1000.0 / 11) <= 2.0, s


def test_a_cap_lifted_takes_effect_at_once(boot: Booter) -> None:
    """Two spinners capped at 20 % on an otherwise idle CPU; the judge lifts one's cap (found
    parked, most likely: each spends 80 % of a period so) and judges the next 500 ms. The lifted
    one must take all the CPU the other's cap leaves: a parked domain whose cap goes must be put
    back on the run queue at once, since it is no longer on the list of capped domains whose
    budgets each period renews. The other keeps its 20 % (its place in that list intact)."""
    s = shares(boot, "share_cap_lift")
    assert abs(s["capped"] - 20.0) <= 1.0, s
    assert s["lifted"] >= 78.0, s


def test_a_weight_holds_when_a_yield_switches_the_domain_in(boot: Booter) -> None:
    """Weight 1024 (four 1 ms slices) beside a default-weight spinner and a domain that only
    yields, queued in that order: the heavy spinner always comes in by the yielder's yield (the
    scheduler's plain switch, which must leave a weighted domain to the general path's slice) and
    gets 4 of every 5 ticks. Given the default slice on that way in, it gets half."""
    s = shares(boot, "share_weight_yield")
    assert abs(s["heavy"] - 80.0) <= 3.0, s
    assert abs(s["plain"] - 20.0) <= 3.0, s
    assert s["yielder"] <= 3.0, s


def test_a_weight_set_at_run_time_holds_when_a_yield_switches_the_domain_in(boot: Booter) -> None:
    """The same, with the weight given by setsched while the domains run (the heavy spinner
    starts with the default weight): the scheduler's per-domain flag for the plain switch must
    follow the change, or the heavy spinner keeps the default slice and gets half."""
    s = shares(boot, "share_weight_yield_runtime")
    assert abs(s["heavy"] - 80.0) <= 3.0, s
    assert abs(s["plain"] - 20.0) <= 3.0, s
    assert s["yielder"] <= 3.0, s


def test_a_weight_holds_when_a_weighted_domain_yields_to_it(boot: Booter) -> None:
    """The same with a yielder of weight 512: whoever yields, the domain switched in gets the slice
    of its own weight (the plain switch's per-domain flag says "the default weight" of the one
    switched in, and of the yielder; taking either weighted one by the plain switch would give
    the heavy spinner the default slice, half the CPU)."""
    s = shares(boot, "share_weight_yield_weighted")
    assert abs(s["heavy"] - 80.0) <= 3.0, s
    assert abs(s["plain"] - 20.0) <= 3.0, s
    assert s["yielder"] <= 3.0, s


# Each steal scenario: its pinned spinners and the share of one CPU each gets.
STEAL_PINNED = {
    "sched_steal_first": {"p1-0": 50.0, "p1-1": 50.0, "p2-0": 100.0 / 3, "p2-1": 100.0 / 3, "p2-2": 100.0 / 3},
    "sched_steal_longest": {"s0-0": 50.0, "s0-1": 50.0},
}


@pytest.mark.parametrize("name", sorted(STEAL_PINNED))
def test_an_idle_cpu_takes_a_domain_queued_on_another(boot: Booter, name: str) -> None:
    """An idle CPU takes an unpinned spinner from the longest other queue that holds one, three
    unpinned spinners sharing one CPU: that one then gets all of a CPU, the two others half of
    theirs each. sched_steal_first: CPU 3 idles while CPU 0 has two unpinned spinners queued behind
    a third, and CPU 2 as many, but pinned (the first longest queue is the one to take from).
    sched_steal_longest: CPUs 2 and 3 idle while CPU 0 has one pinned spinner queued and CPU 1 two
    unpinned ones (the longest queue, not the first with one queued). Without the steal the three
    share their CPU (a third each); taken from the wrong queue (CPU 2's in the first, the last of
    the longest; CPU 0's in the second) the steal finds only pinned domains and none moves."""
    s = shares(boot, name)
    unpinned = sorted(s[f"u-{i}"] for i in range(3))
    assert unpinned[2] >= 95.0 and all(abs(u - 50.0) <= 5.0 for u in unpinned[:2]), s
    # The pinned ones stay where they are, sharing their CPUs.
    assert all(abs(s[d] - share) <= 5.0 for d, share in STEAL_PINNED[name].items()), s


def test_an_idle_cpu_takes_a_domain_queued_on_another_on_two_cpus(boot: Booter) -> None:
    """sched_steal_two_cpus (-icount, two CPUs, the judge's 50 ms): the judge pinned to CPU 1,
    two unpinned spinners both placed on CPU 0, one of them queued. When the judge sleeps, CPU 1
    must take the queued one: each spinner then has a CPU to itself (99.2 % and 100.0 %). The
    steal reads the run queues' counters, kept only with more than one CPU online (with one nobody
    reads them); kept only with more than two, the steal finds every queue empty on two CPUs,
    CPU 1 idles and the spinners share CPU 0 (57.2 % and 41.4 %). The four-CPU steal scenarios
    above cannot see that: four CPUs keep the counters either way."""
    result: qemu.BootResult = boot(scenario_file=scenario_path("sched_steal_two_cpus"), icount=True,
                                   icount_shift=ICOUNT_SHIFT, timeout=240)
    assert_xtf(result)
    assert "cpus: 2 online" in result.lines, log_tail(result)
    log = domlog.parse(result.console)
    # The premise: both spinners start on CPU 0, the judge's CPU 1 has nothing but the judge.
    assert [(d.name, d.cpu) for d in log.domains] == [("judge", 1), ("u-0", 0), ("u-1", 0)], log_tail(result)
    s = share_figures(result)
    assert s["u-0"] >= 90.0 and s["u-1"] >= 90.0, s


def test_a_cap_holds_under_partitions(boot: Booter) -> None:
    """partition_cap_alone (-icount, sched=partition, two partitions of 5 ms): `capped` (10 %)
    alone in its partition while the judge sleeps, two spinners in the other. Parked by its cap,
    capped stops, its partition idles until the refill and the spinners' partition gets no more
    than its own 4 ms of every 10 (the first tick of each partition is a guard). Before, partition
    pick did not ask whether the current vCPU was parked and queued it again: capped got 40 %,
    the whole partition."""
    s = shares(boot, "partition_cap_alone")
    assert abs(s["capped"] - 10.0) <= 1.0, s
    for i in range(2):
        assert abs(s[f"spin-{i}"] - 20.0) <= 1.0, s


def test_a_capped_domain_gets_its_cap_in_a_shared_partition(boot: Booter) -> None:
    """partition_cap: `capped` (10 %) and `spin` share one partition, `other` has the second to
    itself. capped gets its cap: the refill queues it at the head of its partition's queue, as
    without partitions, so spin's slice does not take its budget's time (queued at the tail, it
    got 6.7 %: its budget in two periods of three); spin gets the rest of the partition, and
    `other` its own partition's time and no more."""
    s = shares(boot, "partition_cap")
    assert abs(s["capped"] - 10.0) <= 1.0, s
    assert abs(s["spin"] - 30.0) <= 1.0, s
    assert abs(s["other"] - 40.0) <= 1.0, s
