# SPDX-License-Identifier: MIT
"""The scheduler's wake-up boost, and the fair-share bound that keeps it from starving anyone.

tests/scenarios/sched_fair.toml: `ping` and `pong` exchange 100,000 events as fast as they can
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
