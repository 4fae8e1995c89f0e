# SPDX-License-Identifier: MIT
"""The scheduler's and the covert-channel mitigations' command-line options (`sched=`,
`partition_ms=`, `mitigate=`; hv/core/sched_partition.c, hv/core/mitigate.c): a value the
hypervisor does not know stops the machine before any domain starts, with a message that names
it; the values at the edges of the accepted ranges boot. The scenarios normally write these
options from their [scheduler] table (moat.scenario), which refuses bad values before the
hypervisor sees them, so only a hand-written command line reaches the hypervisor's own checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moat.pytest_plugin import Booter, assert_xtf
from tests.domains import domlog
from tests.domains.conftest import scenario_path
from tests.domains.test_timer import SLEPT

HELLO = scenario_path("hello")
GREETING = "hello from domain"
HELLO_IMAGE = "hello"


@pytest.mark.parametrize("value", ["rr", "partitioned", "roundrobin2"])
def test_an_unknown_scheduler_stops_the_machine(boot: Booter, value: str) -> None:
    result = boot(scenario_file=HELLO, cmdline=f"sched={value}")
    assert f"moat: sched={value}: unknown scheduler (known: roundrobin, partition)\n" in result.console
    assert GREETING not in result.console


def test_the_round_robin_scheduler_by_name(boot: Booter) -> None:
    """`sched=roundrobin` is the default, named: the domain runs, no partitions are cut."""
    result = boot(scenario_file=HELLO, cmdline="sched=roundrobin")
    assert_xtf(result)
    assert "sched: partitioned" not in result.console


@pytest.mark.parametrize("value", ["1", "0", "1001", "10ms", "123456789012345"])
def test_a_bad_partition_length_stops_the_machine(boot: Booter, value: str) -> None:
    # Below two ticks (1 ms: a guard tick and nothing that runs), nothing, past the ceiling,
    # digits followed by something else, and a number far past the ceiling (the reader stops
    # taking digits once past it, so the rest is "something else" too).
    result = boot(scenario_file=HELLO, cmdline=f"sched=partition partition_ms={value}")
    assert f"moat: partition_ms={value}: a number of milliseconds, 2 to 1000\n" in result.console
    assert GREETING not in result.console


@pytest.mark.parametrize("value", ["2", "1000"])
def test_partition_lengths_at_the_edges_are_accepted(boot: Booter, value: str) -> None:
    """The floor and the ceiling themselves: one partition (hello's one label) of that length.
    Under -icount: hello waits out the first partition's length before it runs, a second of the
    host's time at 1000 ms under plain TCG, none here (the idle CPUs skip to the next tick)."""
    result = boot(scenario_file=HELLO, cmdline=f"sched=partition partition_ms={value}", icount=True)
    assert_xtf(result)
    assert f"sched: partitioned: 1 partitions of {value} ms, cycle {value} ms (labels:" in result.console


def test_partition_length_without_partitions_is_ignored(boot: Booter) -> None:
    """partition_ms= means something only with sched=partition: a bad one is not even read."""
    result = boot(scenario_file=HELLO, cmdline="partition_ms=1")
    assert_xtf(result)
    assert "a number of milliseconds" not in result.console and "sched: partitioned" not in result.console


@pytest.mark.parametrize("value, shown", [("bogus", "bogus"), ("domid,pool", "pool"), ("all,", None),
                                          ("domid,,pools", "")])
def test_an_unknown_mitigation_stops_the_machine(boot: Booter, value: str, shown: str | None) -> None:
    """Each comma-separated word is looked up: an unknown one (even after a known one, or an
    empty word between two commas) stops the machine. A trailing comma ends the list."""
    result = boot(scenario_file=HELLO, cmdline=f"mitigate={value}")
    if shown is None:
        assert_xtf(result)
        assert "mitigate: domid pools (" in result.console
        return
    assert f"moat: mitigate=: unknown mitigation '{shown}' (known: domid, pools, all)\n" in result.console
    assert GREETING not in result.console


@pytest.mark.parametrize("value, named", [("domid", "domid"), ("pools", "pools"), ("pools,domid", "domid pools"),
                                          ("all", "domid pools")])
def test_mitigations_are_named_on_the_console(boot: Booter, value: str, named: str) -> None:
    """The default policy has three labels: the pools share the domain table's 64 entries (21
    each) and the frames left beside the hypervisor's reserve among them."""
    result = boot(scenario_file=HELLO, cmdline=f"mitigate={value}")
    assert_xtf(result)
    lines = [line for line in result.lines if line.startswith("mitigate:")]
    if "pools" not in named:
        assert lines == [f"mitigate: {named}"], lines
        return
    assert len(lines) == 1 and re.fullmatch(rf"mitigate: {named} \(3 labels: (\d+) frames and 21 domains each\)",
                                            lines[0]), lines
    # 128 MiB of RAM: some 32,000 free frames, 1152 of them kept back, the rest in three shares.
    frames = int(lines[0].split("labels: ")[1].split()[0])
    assert 9000 <= frames <= 10500, lines


@pytest.mark.parametrize("cpus", [1, 2])
def test_more_labels_than_partitions(boot: Booter, cpus: int) -> None:
    """18 labels, 16 partitions: the first 16 labels (rows 2 to 17) get one each in the order
    their domains were built, and the 17th and 18th labels share the last; every domain runs.
    On two CPUs too: the cycle runs on the boot CPU, whose idle loop once slept through the
    ticks that find its boundaries (with nothing else due, only the stats lines woke it), so
    after the first partition's domain ended no other partition ever ran."""
    result = boot(scenario_file=scenario_path("partition_many"), timeout=120, smp=cpus)
    assert_xtf(result)
    shared = [line for line in result.lines if line.startswith("sched: more than 16 labels")]
    assert shared == ["sched: more than 16 labels: domain 16 'p17' shares the last partition",
                      "sched: more than 16 labels: domain 17 'p18' shares the last partition"], shared
    labels = " ".join(str(row) for row in range(2, 18))
    assert f"sched: partitioned: 16 partitions of 2 ms, cycle 32 ms (labels: {labels})" in result.lines
    log = domlog.parse(result.console)
    assert log.not_expected == 0 and all(log.named(f"p{i:02d}").result == "SUCCESS" for i in range(1, 19))
    # The cycle is cut on the boot CPU only: every domain is placed there (sched_place), also when
    # another CPU is online.
    placed = re.findall(r"^domain \d+ 'p\d+' created: .*, (cpu \d+.*)$", result.console, re.MULTILINE)
    assert placed == ["cpu 0 (pinned)"] * 18, placed


def test_timers_and_polls_under_partitions(boot: Booter) -> None:
    """tests/scenarios/timer.toml under sched=partition (one label: one partition, whose domains
    take turns): the partitioned tick fires every domain's timer, so the sleepers wake, never
    before their deadline. With stats lines every 30 ms beside them: the CPU's next deadline is
    whichever of a sleeper's timer and the next stats line comes first. Under -icount: the timer
    guest fails a wake-up later than its bound, which a loaded host (or the block log of `moat
    coverage`, which slows the hypervisor's every tick here) would break."""
    result = boot(scenario_file=scenario_path("timer"), cmdline="sched=partition stats=30",
                  icount=True)
    assert_xtf(result)
    assert "meter: a stats line per domain every 30 ms" in result.lines
    periodic = {int(m[1]) for m in re.finditer(r"^stats: t=(\d+) .* ports=\d+$", result.console, re.MULTILINE)}
    assert len(periodic) >= 3, sorted(periodic)
    assert "sched: partitioned: 1 partitions of 10 ms" in result.console
    log = domlog.parse(result.console)
    for name in ("timer-0", "timer-1"):
        dom = log.named(name)
        sleeps = [(int(m[1]), int(m[2])) for line in dom.lines if (m := SLEPT.match(line))]
        assert [asked for _, asked in sleeps] == [10000, 20000, 30000, 40000, 50000], dom.lines
        assert all(asked <= slept for slept, asked in sleeps), sleeps


def test_domains_created_at_run_time_under_partitions(boot: Booter) -> None:
    """tests/scenarios/quota.toml under sched=partition: the schedule is fixed at the first pick,
    so the domains its guests create later (of labels with no partition) run on their creator's
    time; the quotas come out as without partitions (tests/resource/test_quotas.py)."""
    result = boot(scenario_file=scenario_path("quota"), cmdline="sched=partition",
                  timeout=120)
    assert_xtf(result)
    assert "sched: partitioned: 6 partitions of 10 ms" in result.console
    log = domlog.parse(result.console)
    for name in ("ctl", "mgr", "lim", "free", "hog", "peer"):
        assert log.named(name).result == "SUCCESS", name
    ctl = [line for line in log.named("ctl").lines if line.startswith("quota: ")]
    assert "quota: small created 6, then rc=-12" in ctl, ctl
    assert "quota: mgr created 2 tenants, then rc=-28" in log.named("mgr").lines


def test_a_domain_pinned_to_a_cpu_that_is_not_online(boot: Booter, tmp_path: Path) -> None:
    """A scenario may pin a domain to any CPU the hypervisor supports; on a machine with fewer
    CPUs online the hypervisor says so and places it itself (on the boot CPU, the only one),
    and the domain runs."""
    scen = tmp_path / "pinned_away.toml"
    scen.write_text(f'[[domain]]\nname = "away"\nimage = "{HELLO_IMAGE}"\nmemory = "256K"\ncpu = 3\n'
                    'cmdline = "greeting=away"\n')
    result = boot(scenario_file=scen, smp=1)
    assert_xtf(result)
    assert "domain 0 'away': cpu 3 is not online; the scheduler places it" in result.lines
    assert "domain 0 'away' created: 256 KiB, image module 1, ssidref" in result.console
    line = next(x for x in result.lines if x.startswith("domain 0 'away' created"))
    assert line.endswith(", cpu 0"), line


def test_domains_created_at_run_time_under_the_mitigations(boot: Booter) -> None:
    """tests/scenarios/quota.toml under mitigate=all: its policy has ten labels, so each label's
    pool holds 6 of the domain table's 64 entries. The controller's run of small domains is then
    cut at 6 by its label's pool (-ENOSPC) where without pools its memory quota cuts it at 6 too
    (-ENOMEM, tests/resource/test_quotas.py); after their deaths 6 fit again (each death gives
    its entry and its frames back to the pool). A big domain of 16 MiB, inside its label's
    quota, is more than the label's tenth of the frames: -ENOMEM. Every domain created at run time gets a keyed,
    unguessable id of 64 or more; the boot domains keep theirs."""
    result = boot(scenario_file=scenario_path("quota"), cmdline="mitigate=all", timeout=120)
    assert_xtf(result)
    assert re.search(r"^mitigate: domid pools \(10 labels: \d+ frames and 6 domains each\)$", result.console,
                     re.MULTILINE), result.tail()
    log = domlog.parse(result.console)
    for name in ("ctl", "mgr", "lim", "free", "hog", "peer"):
        assert log.named(name).result == "SUCCESS", name
    ctl = log.named("ctl").lines
    assert "quota: small created 6, then rc=-28" in ctl, ctl
    assert "quota: small created 6 again after the deaths" in ctl, ctl
    # 16 MiB of big's: inside its quota, beyond its label's share of the frames (3037 here),
    # half of them taken from the free list after an 8 MiB domain's death (a domain's RAM
    # charged to its pool only when it comes from frames never handed out would fit).
    assert "quota: big of 8 MiB: rc=0" in ctl, ctl
    assert "quota: big of 16 MiB: rc=-12" in ctl, ctl
    assert "quota: mgr created 2 tenants, then rc=-28" in log.named("mgr").lines
    stopped = [(int(m[1]), m[2]) for m in re.finditer(r"^domain (\d+) '(\w+)' stopped", result.console, re.MULTILINE)]
    assert stopped and all(domid >= 64 for domid, name in stopped if name in ("small", "big", "tenant")), stopped
    assert all(domid < 64 for domid, name in stopped if name in ("ctl", "mgr", "lim", "free", "hog", "peer")), stopped
    assert len({domid for domid, name in stopped if name == "small"}) >= 10, stopped


def test_domid_mitigation_without_rdrand_says_its_ids_are_guessable(boot: Booter) -> None:
    """A CPU without RDRAND (QEMU's `max` model with it switched off): the ids' key comes from the
    TSC and the boot's addresses alone, which the hypervisor says at boot; the domain still runs."""
    result = boot(scenario_file=HELLO, cmdline="mitigate=domid", extra_args=["-cpu", "max,rdrand=off"])
    assert_xtf(result)
    assert "mitigate: no RDRAND: domain ids are keyed by the TSC only (guessable)" in result.lines
    assert "mitigate: domid" in result.lines


def test_pools_refuse_a_policy_of_more_labels_than_domain_entries(boot: Booter) -> None:
    """mitigate=pools gives each label its own share of the 64 domain-table entries: with a boot
    policy of 65 labels (and the unlabeled row) a share would be 0, so the machine stops before
    any domain starts, saying why."""
    result = boot(scenario_file=scenario_path("partition_many"), cmdline="mitigate=pools")
    assert "moat: mitigate=pools: the policy has 66 labels; pools work for at most 64\n" in result.console, \
        result.tail()
    assert GREETING not in result.console and "Test result: SUCCESS" not in result.console
