# SPDX-License-Identifier: MIT
"""Delivery timing and fairness, under `-icount shift=0,sleep=off` so that time is instructions
and the shared host's load cannot move the numbers: an upcall reaches a spinning domain within one
time slice, and an event storm does not starve a third domain."""

from __future__ import annotations

import re

SLICE_NS = 10_000_000  # tests/scenarios/evtchn_spin.toml: slice_ms = 10
SLACK_NS = 500_000     # the switch itself and the handler's first instructions

SENT = re.compile(r"^sent (\d+) at (\d+)$")
GOT = re.compile(r"^got (\d+) at (\d+)$")
WORKER = re.compile(r"^worker done: (\d+) iterations in (\d+) us, cpu share (\d+)%")
STORM = re.compile(r"^storm over: (\d+) sends$")


def stamps(lines: list[str], pattern: re.Pattern[str]) -> dict[int, int]:
    return {int(m.group(1)): int(m.group(2)) for line in lines if (m := pattern.match(line))}


def test_upcall_reaches_a_spinning_domain_within_one_slice(run_evtchn):
    run = run_evtchn("evtchn_spin", icount=True)
    sent = stamps(run.lines("spin-pinger"), SENT)
    got = stamps(run.lines("spin-spinner"), GOT)
    assert sorted(sent) == sorted(got) == list(range(20)), run.tail()
    delays = [got[i] - sent[i] for i in range(20)]
    assert all(0 < d <= SLICE_NS + SLACK_NS for d in delays), delays


def test_event_storm_does_not_starve_a_third_domain(run_evtchn):
    run = run_evtchn("evtchn_storm", icount=True)
    worker = next((m for line in run.lines("storm-worker") if (m := WORKER.match(line))), None)
    storm = next((m for line in run.lines("storm-sender") if (m := STORM.match(line))), None)
    assert worker is not None and storm is not None, run.tail()
    # A real storm: the sender spent its slices sending (thousands of sends per slice).
    assert int(storm.group(1)) > 10_000, storm.group(0)
    # Three runnable domains: the worker gets about a third of the CPU, never much less.
    assert int(worker.group(3)) >= 25, worker.group(0)
    # The worker finished while the storm was still going (the storm stops only when it is done).
    order = [text for _, text in run.log.order]
    assert order.index(worker.string) < order.index(storm.string)
