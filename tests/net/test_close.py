# SPDX-License-Identifier: MIT
"""Frames sent just before a close are not lost (docs/networking.md): the granter of a link still
receives what its peer posted before closing, and the switch switches (and counts) every frame of a
member that closes right after its last one, on several CPUs."""

from __future__ import annotations

from . import netlog


def test_the_granter_receives_what_the_peer_sent_before_closing(run_scenario):
    log, tail = netlog.checked(run_scenario("net_close_drain"))
    taker, sender = log.named("taker"), log.named("sender")
    assert "hostile: flood: 32 of 32 frames with unknown destinations sent" in sender.lines, tail
    # The taker looked only after the close, so without the drain it would have had none of them.
    assert "hostile: late: 32 of 32 frames taken after the peer closed (the peer closed the link), then -3" \
        in taker.lines, tail
    assert "hostile: closed: 0 mappings held" in sender.lines and "hostile: closed: 0 mappings held" in taker.lines
    assert log.frames_stop == log.frames_boot, tail


def test_the_switch_counts_every_frame_of_members_that_close_at_once(run_scenario):
    log, tail = netlog.checked(run_scenario("net_close_race", timeout=200))
    switch = log.named("switch")
    names = ("f1", "f2", "f3", "f4")
    for name in names:
        assert "hostile: flood: 500 of 500 frames with unknown destinations sent" in log.named(name).lines, tail
    counts = netlog.port_counts(switch)
    # Every frame a member sent was taken in and flooded (to the other members, which may be gone or
    # full: those are the drop counters' business), none lost with the port.
    assert {name: (counts[name].inbound, counts[name].flooded) for name in names} == \
        {name: (500, 500) for name in names}, counts
    assert all(why == "the peer closed the link" for why, _ in netlog.ports_down(switch).values()), tail
    ports, ended, grants, _, _ = netlog.stopped(switch) or (0, 0, 0, 0, 0)
    assert (ports, ended, grants) == (4, 132, 132), tail
    assert log.frames_stop == log.frames_boot, tail
