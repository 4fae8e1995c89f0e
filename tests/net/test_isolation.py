# SPDX-License-Identifier: MIT
"""A sniffer on customer B's VLAN hears nothing of customer A (docs/networking.md), while A streams
2 MiB and a member of A floods the switch with frames to unknown destinations from ever new source
addresses, which the switch may flood to A's VLAN only."""

from __future__ import annotations

import re

from . import netlog

HEARD = re.compile(r"sniffer: heard (\d+) frames \((\d+) broadcast; ARP (\d+), IPv4 (\d+), other (\d+)\), "
                   r"(\d+) of them watched")


def test_b_hears_nothing_of_a_while_a_streams_and_floods(run_scenario):
    log, tail = netlog.checked(run_scenario("net_sniff", timeout=150))
    sniff, a1, a2, flood, switch = (log.named(n) for n in ("bsniff", "a1", "a2", "aflood", "switch"))
    heard = [m for line in sniff.lines if (m := HEARD.fullmatch(line))]
    assert len(heard) == 1, tail
    total, _, arp, _, _, watched = map(int, heard[0].groups())
    assert watched == 0, tail
    # It did listen: B's own broadcasts (b1 looking for A's addresses in vain) reached it.
    assert total >= 10 and arp == total, tail
    # And it listened while A's traffic ran: connected before A's stream ended, reported after all
    # of A had gone (its until_gone).
    order = [text for _, text in log.order]
    listening = order.index(next(t for t in order if t.startswith("sniffer: listening")))
    streamed = order.index(next(t for t in order if t.startswith("stream to 10.0.0.1")))
    assert listening < streamed, tail
    assert "hostile: flood: 3000 of 3000 frames with unknown destinations sent" in flood.lines, tail
    # The flood went where it may: A's other ports got it, B's did not.
    counts = netlog.port_counts(switch)
    assert counts["aflood"].flooded == 3000, counts
    assert counts["a1"].out + counts["a1"].drop_full >= 3000 and counts["bsniff"].out == total, counts
    assert "unreachable 10.0.0.1 vlan 0: no answer, as expected" in log.named("b1").lines
    # A's own traffic went through regardless.
    assert any(line.startswith("stream to 10.0.0.1: 2097152 bytes") and line.endswith("match") for line in a2.lines)
    assert netlog.pings(a2) == [("10.0.0.1", 0, 10, 10)], tail
    assert netlog.gave_back(a1) and netlog.gave_back(a2), tail
    assert log.frames_stop == log.frames_boot, tail
