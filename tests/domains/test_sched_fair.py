# SPDX-License-Identifier: MIT
"""The scheduler's wake-up boost, and the fair-share bound that keeps it from starving anyone.

tests/scenarios/sched_fair.toml: `ping` and `pong` exchange 20,000 events as fast as they can
while `worker` computes. The console is in time order (one CPU), so:
- the boost works if the pair gets thousands of round trips done while the worker is still busy
  (without it, each round trip would wait out the worker's 10 ms slice: under a hundred by then);
- the bound works if the worker finishes before the pair does (an unbounded boost would give the
  pair, always woken and always first in the queue, the whole CPU until it is done).
"""

from __future__ import annotations

from moat.pytest_plugin import assert_xtf


def test_woken_domains_run_soon_but_do_not_starve_others(run_scenario):
    result = run_scenario("sched_fair", timeout=180)
    assert_xtf(result)
    lines = result.lines
    worker_done = next(i for i, line in enumerate(lines) if "worker done:" in line)
    pingpong_done = next(i for i, line in enumerate(lines) if "pingpong done:" in line)
    progress_before_worker = [line for line in lines[:worker_done] if "pingpong progress:" in line]
    assert worker_done < pingpong_done, "the worker was starved until the ping-pong ended"
    assert len(progress_before_worker) >= 2, "under 2,000 round trips while the worker ran: woken domains wait too long"


def test_an_event_sent_to_oneself_comes_before_anything_queued(boot) -> None:
    """tests/scenarios/sched_selfsend.toml, under -icount: a domain sends 100 events to itself (an
    IPI port) while a worker is queued on its CPU. Each upcall comes on the way out of its own
    send: the sender neither yielded nor used up its slice, so the way out (the scheduler's, as an
    upcall is due) must let it go on rather than switch. A switch there would make each delivery
    wait out the worker's 10 ms slice."""
    from moat import qemu
    from tests.domains.conftest import scenario_path

    result: qemu.BootResult = boot(scenario_file=scenario_path("sched_selfsend"), icount=True, timeout=240)
    assert_xtf(result)
    done = [line for line in result.lines if "selfsend done:" in line]
    assert done, result.lines[-20:]
    delay_us = int(done[0].rsplit(" ", 2)[1])
    assert done[0].endswith(f"selfsend done: 100 sends, longest delay {delay_us} us")
    assert delay_us < 1000, done[0]
