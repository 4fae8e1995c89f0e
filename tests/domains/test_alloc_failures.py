# SPDX-License-Identifier: MIT
"""Every allocation a running system makes may fail, and each failure is answered and cleaned up.

The self-test build's `failalloc=K` (hv/core/frame.c) refuses the K-th allocation of a frame that
is not guest RAM once the boot's domains are built, as if memory had run out at exactly that
point. For each scenario below the sweep boots it with K = 1, 2, ... past the number of
allocations it makes, and every boot must end with every domain stopped, every frame back on the
free list (the count at stop equals the count before any domain was built, and the frame table's
audit agrees), no fault in the hypervisor and no panic. What the guests make of the refusal (an
error code they did not expect, so often a FAILURE result) is theirs: the hypervisor's part is to
answer an error and give everything back. The error returns these reach are the ones
tests/quality/unreached-errors.toml used to list as needing fault injection.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from moat import paths, scenario
from moat.pytest_plugin import log_tail
from moat.symbolize import SymbolTable
from tests.domains import domlog

from .conftest import GUEST_TIMEOUT, scenario_path

pytestmark = pytest.mark.boot

# Scenario -> how many allocations its sweep covers: more than it makes (checked below).
SWEEPS = {
    "gnt_ops": 11,       # grant table pages, page tables of the grant window, event channels
    "alloc_create": 7,   # a domain created and destroyed at run time (its tables and pages)
    "vcpu_pin": 11,      # vCPUs brought up at run time on several CPUs
}

REFUSED = re.compile(r"^selftest: failalloc: allocation (\d+) \(use (\d+)\) refused, called from 0x([0-9a-f]+)$")
COUNTED = re.compile(r"^selftest: failalloc: (\d+) allocations counted$")


@cache
def symbols() -> SymbolTable:
    return SymbolTable.from_elf(paths.hv_image("moat-selftest", elf=True))


def boot_refusing(boot, name: str, k: int | str):
    # The sweep's claim is about allocations, not about CPUs running at once: its boots run their
    # CPUs in one host thread. vcpu_pin's child then spends a second on its spinlocked counter
    # instead of 8 to 20 (with a host thread per CPU, four CPUs on a loaded two-core host wait
    # for a descheduled lock holder at every hand-over; docs/testing.md).
    path = scenario_path(name)
    cmdline = f"{scenario.load(path).hypervisor.cmdline} failalloc={k}".strip()
    return boot(cmdline, scenario_file=path, selftest=True, timeout=GUEST_TIMEOUT, one_thread=True)


def counted(lines: list[str]) -> int:
    found = [int(m.group(1)) for line in lines if (m := COUNTED.match(line))]
    assert len(found) == 1, "no `allocations counted` line at stop"
    return found[0]


def assert_everything_given_back(result) -> None:
    lines = result.lines
    log = domlog.parse(result.console)
    assert any(domlog.ALL_STOPPED.match(line) for line in lines), log_tail(result)
    assert log.frames_boot and log.frames_stop, log_tail(result)
    assert log.frames_stop[1] == log.frames_boot[1], \
        f"free frames {log.frames_boot[1]} at boot, {log.frames_stop[1]} at stop\n" + log_tail(result)
    assert not any("audit failed" in line for line in lines), log_tail(result)
    assert any(line.endswith("; none in the hypervisor") for line in lines), log_tail(result)
    assert not any("PANIC" in line or line.startswith("BUG") for line in lines), log_tail(result)
    assert all(d.outcome is not None for d in log.domains), log_tail(result)


@pytest.mark.parametrize("name", SWEEPS)
def test_the_sweep_covers_every_allocation(boot, name):
    """Nothing refused (K beyond them all): the scenario passes, and it makes fewer allocations
    than its sweep covers, so the sweep below reaches each one."""
    result = boot_refusing(boot, name, 1_000_000)
    assert result.xtf == "SUCCESS", log_tail(result)
    n = counted(result.lines)
    assert 0 < n < SWEEPS[name], f"{name} made {n} allocations; raise its sweep to more than that"
    assert_everything_given_back(result)


@pytest.mark.parametrize(("name", "k"), [(n, k) for n, top in SWEEPS.items() for k in range(1, top + 1)])
def test_a_refused_allocation_is_answered_and_given_back(boot, name, k):
    result = boot_refusing(boot, name, k)
    refused = [m for line in result.lines if (m := REFUSED.match(line))]
    n = counted(result.lines)
    if refused:  # a refusal changes what follows, so the count is this run's own
        assert int(refused[0].group(1)) == k and n >= k
        caller = int(refused[0].group(3), 16)
        assert symbols().lookup(caller) is not None, f"caller 0x{caller:x} is not in the hypervisor"
    else:
        assert n < k, f"{n} allocations counted, but the {k}th was not refused"
    assert_everything_given_back(result)


# `failalloc=ram:K` counts guest RAM's frames instead, and only them: alloc_create's child of
# 256 KiB has 63 pages (its guard page is left out), which gpt_populate takes as two runs from the
# allocator (frame_alloc_run: the 59 pages below the guard page, the 4 of the stack above it), then
# its two info pages, one at a time. A run refused part-way must give back every frame it took
# before the refusal, and the domain's quota charge for the pages not mapped (a quota given back
# twice BUGs, one never given back panics at the domain's end, a frame kept shows at stop): K = 2
# and 40 refuse the first run part-way, 60 the second's first frame (the first run mapped, given
# back by the teardown), 63 its last, 65 an info page.
RAM_FRAMES = 63 + 2
FRAME_GUEST = 5  # enum frame_use (hv/internal/moat/frame.h)


def test_every_frame_of_guest_ram_is_counted(boot):
    result = boot_refusing(boot, "alloc_create", "ram:1000000")
    assert result.xtf == "SUCCESS", log_tail(result)
    assert counted(result.lines) == RAM_FRAMES
    assert_everything_given_back(result)


@pytest.mark.parametrize("k", [1, 2, 40, 60, 63, RAM_FRAMES])
def test_a_run_refused_part_way_gives_back_what_it_took(boot, k):
    result = boot_refusing(boot, "alloc_create", f"ram:{k}")
    refused = [m for line in result.lines if (m := REFUSED.match(line))]
    assert len(refused) == 1 and int(refused[0].group(1)) == k, log_tail(result)
    assert int(refused[0].group(2)) == FRAME_GUEST
    found = symbols().lookup(int(refused[0].group(3), 16))
    assert found is not None
    assert (found[0] == "gpt_populate") == (k <= 63), found
    assert counted(result.lines) == k  # the create stopped there: nothing after it was counted
    assert_everything_given_back(result)
