# SPDX-License-Identifier: MIT
"""Domains on several CPUs (docs/hypervisor.md, "Scheduling" and "Concurrency").

The race tests run without -icount: QEMU's multi-threaded TCG runs the virtual CPUs in parallel
on the host's cores, and each scenario is booted several times.
"""

from __future__ import annotations

import re

import pytest

from moat.pytest_plugin import Booter, assert_status, assert_xtf, log_tail
from tests.domains import domlog
from tests.domains.conftest import GUEST_TIMEOUT, scenario_path

GRANT_VA, GRANT_SIZE = 0x8000000000, 1 << 30
HVLOCK = re.compile(r"^hvlock: taken=(\d+) contended=(\d+) waited=(\d+) tsc ticks", re.MULTILINE)


def test_pinned_domains_run_on_their_cpus_and_events_cross_them(boot: Booter) -> None:
    result = boot(scenario_file=scenario_path("smp_evtchn_pair"), timeout=GUEST_TIMEOUT)
    assert_xtf(result)
    assert "cpus: 4 online" in result.lines
    log = domlog.parse(result.console)
    assert [(d.name, d.cpu) for d in log.domains] == [("pair-a", 1), ("pair-b", 2), ("pair-c", 3)]
    for name in ("pair-a", "pair-b", "pair-c"):
        assert re.search(rf"^domain \d+ '{name}' created: .*, cpu \d \(pinned\)$", result.console, re.M)
    assert any(line.startswith("event loop: ") for line in log.named("pair-a").lines), log_tail(result)
    assert log.frames_stop == log.frames_boot
    # With more than one CPU the hypervisor lock is taken, and its figures are printed at stop.
    m = HVLOCK.search(result.console)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) <= int(m.group(1)), log_tail(result)


def test_unpinned_domains_are_spread_over_the_cpus(boot: Booter) -> None:
    result = boot(scenario_file=scenario_path("evtchn_pair"), smp=4, timeout=GUEST_TIMEOUT)
    assert_xtf(result)
    log = domlog.parse(result.console)
    # Placement: each new domain goes to the CPU with the fewest domains.
    assert [d.cpu for d in log.domains] == [0, 1, 2], log_tail(result)


def test_a_revoked_page_faults_for_a_mapper_on_another_cpu(boot: Booter) -> None:
    result = boot(scenario_file=scenario_path("smp_gnt_revoke_fault"), timeout=GUEST_TIMEOUT)
    assert_xtf(result)
    log = domlog.parse(result.console)
    assert (log.named("granter").cpu, log.named("mapper").cpu) == (0, 1)
    mapper = log.named("mapper")
    assert mapper.crash is not None and mapper.crash.mnemonic == "PF", log_tail(result)
    assert mapper.crash.err & 1 == 0 and GRANT_VA <= mapper.crash.cr2 < GRANT_VA + GRANT_SIZE
    assert log.frames_stop == log.frames_boot


def test_a_paused_domain_on_another_cpu_stops_at_once(boot: Booter) -> None:
    # preempt: the controller pauses the spinner, which runs on the other CPU, and checks that
    # its CPU time does not move while paused; then unpauses and destroys it.
    result = boot(scenario_file=scenario_path("preempt"), smp=2, timeout=GUEST_TIMEOUT)
    assert_xtf(result)
    log = domlog.parse(result.console)
    assert log.named("controller").cpu != log.named("spinner").cpu, log_tail(result)
    assert log.named("controller").result == "SUCCESS"



def test_a_pause_or_a_vcpu_down_leaves_the_caller_its_cpu(boot: Booter) -> None:
    # sched_keep (-icount, slice 5 ms): the keeper pauses a domain queued on its CPU and one
    # running on the other CPU, and brings down a vCPU of its own running on the other CPU and
    # one queued on its CPU. Each call must leave it its CPU (it measures under 1 ms across each,
    # where giving the CPU away costs a spinner's 5 ms slice), and the vCPU brought down on the
    # other CPU must not run once VCPUOP_down returned. Then far, making hypercalls on the other
    # CPU, is paused and unpaused 40 times: a pause that comes while one of its hypercalls waits
    # for the hypervisor lock must leave that hypercall to finish (deschedule: not inside one).
    result = boot(scenario_file=scenario_path("sched_keep"), icount=True, timeout=GUEST_TIMEOUT)
    assert_xtf(result)
    keeper = domlog.parse(result.console).named("keeper")
    assert keeper.result == "SUCCESS", log_tail(result)
    for what in ("pause a domain queued on this cpu", "pause a domain running on the other cpu",
                 "down a vcpu running on the other cpu", "down a vcpu queued on this cpu"):
        assert any(line.startswith(f"{what}: ") for line in keeper.lines), log_tail(result)
    # far, making hypercalls while it was paused 40 times, got every result.
    far = domlog.parse(result.console).named("far")
    assert far.lines and not any(line.startswith("Fail:") for line in far.lines), far.lines

def test_a_domain_destroyed_from_another_cpu_leaves_nothing_on_its_cpu(boot: Booter) -> None:
    # sched_remove_remote: the remover, on CPU 1, destroys a domain running on CPU 0 (CPU 0, the
    # first listed, must be stopped too), then one CPU 0 only holds, idle with its page tables in
    # CR3 and its extended state in the registers (CPU 0 must drop them though it runs nobody).
    # Left there, the hypervisor's own checks stop the machine when the frames go back.
    result = boot(scenario_file=scenario_path("sched_remove_remote"), timeout=GUEST_TIMEOUT)
    assert_xtf(result)
    log = domlog.parse(result.console)
    assert [(d.name, d.cpu) for d in log.domains] == [("remover", 1), ("running", 0), ("held", 0)]
    remover = log.named("remover")
    assert remover.result == "SUCCESS", log_tail(result)
    for what in ("destroyed a domain running on the other cpu", "destroyed a domain the other cpu held"):
        assert what in remover.lines, log_tail(result)
    assert "panic" not in result.console, log_tail(result)
    assert log.frames_stop == log.frames_boot, log_tail(result)


# Concurrent bind/close/send from both ends, map/unmap against granter death, a mapper dying with
# live mappings: the domains are spread over four CPUs, and each scenario runs several times.
RACES = ["evtchn_pair", "evtchn_death", "gnt_stress", "gnt_mapper_dies", "gnt_granter_dies", "gnt_revoke"]


@pytest.mark.parametrize("run", range(3))
@pytest.mark.parametrize("name", RACES)
def test_races_on_four_cpus(boot: Booter, name: str, run: int) -> None:
    result = boot(scenario_file=scenario_path(name), smp=4, timeout=240)
    assert_xtf(result)
    log = domlog.parse(result.console)
    assert log.not_expected == 0, log_tail(result)
    assert log.frames_stop == log.frames_boot, f"frames at boot {log.frames_boot}, at stop {log.frames_stop}"
    assert "none in the hypervisor" in result.console


@pytest.mark.parametrize("test,line", [
    ("lock_order", "lock order: cpu 0 takes the hypervisor lock while it holds the call lock"),
    ("lock_held", "lock order: cpu 0 returns to a guest while it holds the hypervisor lock"),
    ("lock_release", "lock order: cpu 0 releases the call lock, which it does not hold"),
])
def test_the_debug_build_checks_the_lock_order(boot: Booter, test: str, line: str) -> None:
    result = boot(f"selftest={test}", selftest=True, smp=2)
    assert_status(result, "FAILURE")
    assert f"*** PANIC: {line}" in result.lines, log_tail(result)
