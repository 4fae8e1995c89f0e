# SPDX-License-Identifier: MIT
"""The hypervisor lock's wake-ups (hv/core/hvlock.c) with two CPUs under -icount.

A lock waiter that spins does so with interrupts off: a wake-up IPI sent to it stayed pending
until it had returned to its guest, and sent it straight back into the hypervisor, where it
waited for the lock again and, on the release, was the cause of the next such IPI to the other
CPU. Two CPUs could pass the lock back and forth on these IPIs for a whole tick or more without
either guest running an instruction. gnt_revoke_remote (the granter on CPU 0 revokes 100
mappings of the mapper on CPU 1, TLB shootdowns included, while the mapper polls for the
relabel) hung that way: the mapper missed the relabel it watched for, and both domains waited
for each other for ever. Under -icount the interleaving is the same on every run.
"""

from __future__ import annotations

import re

from moat import paths
from moat.pytest_plugin import Booter, assert_xtf, log_tail
from tests.domains import domlog

BENCH = re.compile(r"^bench: (\w+) min=(\d+) median=(\d+) max=(\d+) n=(\d+) unit=instructions$")
HVLOCK = re.compile(r"^hvlock: taken=(\d+) contended=(\d+) .*; halted=(\d+) woken=(\d+)$", re.MULTILINE)


def test_a_revocation_with_the_mapper_on_another_cpu_does_not_livelock(boot: Booter) -> None:
    scenario = paths.repo_root() / "tests" / "bench" / "gnt_revoke_remote.toml"
    result = boot(scenario_file=scenario, icount=True, timeout=180)
    assert_xtf(result)
    log = domlog.parse(result.console)
    assert (log.named("revoker").cpu, log.named("mapper").cpu) == (0, 1), log_tail(result)
    fig = {m.group(1): int(m.group(3)) for line in log.named("revoker").lines if (m := BENCH.match(line))}
    names = [f"gnt_revoke_remote_{n}" for n in (1, 10, 100)]
    assert all(name in fig for name in names), log_tail(result)
    costs = [fig[name] for name in names]
    # Per revoked mapping, the relabel's fixed part is shared by more mappings as N grows.
    assert costs[0] > costs[1] > costs[2] > 0, costs
    # Every wake-up went to a waiter that had come to halt; a spinning waiter is never sent one.
    m = HVLOCK.search(result.console)
    assert m, log_tail(result)
    contended, halted, woken = int(m.group(2)), int(m.group(3)), int(m.group(4))
    assert contended > 0 and woken <= halted, m.group(0)
    assert log.frames_stop == log.frames_boot
