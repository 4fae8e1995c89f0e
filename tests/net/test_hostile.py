# SPDX-License-Identifier: MIT
"""The switch survives hostile members (docs/networking.md): floods, VLAN hopping, bad requests,
scribbled indices, a member that stops reading, a request producer that overruns the ring and
responses that were never asked for. Only the two ports that broke the protocol go down; customer
A's streaming and pinging members carry on, and B's sniffer hears none of A."""

from __future__ import annotations

from . import netlog


def test_the_switch_survives_hostile_members(run_scenario):
    log, tail = netlog.checked(run_scenario("net_hostile", timeout=200))
    switch, a1, a2, h1, h2, sniff = (log.named(n) for n in ("switch", "a1", "a2", "h1", "h2", "bsniff"))
    assert not any(netlog.fails(d) for d in (a1, a2, h1, h2, sniff)), tail

    # Bad requests are answered with errors, and the member keeps its port.
    assert "hostile: badreq: responses -1 -1 -1 to the three bad requests, 0 to the good one" in h1.lines, tail
    counts = netlog.port_counts(switch)
    assert counts["h1"].bad_requests == 3, counts
    # VLAN hopping: every tagged or double-tagged frame on an access port is dropped.
    assert counts["h1"].drop_tagged == 6 and counts["h2"].drop_tagged == 6, counts
    # The flood was switched (to A's VLAN, or B's for h2), the table stayed bounded, nobody blocked.
    assert counts["h1"].flooded >= 3000 and counts["h2"].flooded == 1000, counts
    ports, ended, grants, learned, evicted = netlog.stopped(switch) or (0, 0, 0, 0, 0)
    assert learned - evicted <= 128 and evicted > 0, (learned, evicted)

    # Exactly the two ports that broke the protocol went down for it, and the switch ended their
    # grants once they let go.
    down = netlog.ports_down(switch)
    assert down["h1"][0] == "the peer's request producer overran the ring", down
    assert down["h2"][0] == "the peer posted more responses than we made requests", down
    assert all(why == "the peer closed the link" for name, (why, _) in down.items() if name not in ("h1", "h2")), down
    assert "hostile: the switch dropped us: our channel is unbound" in h1.lines
    assert "hostile: the switch dropped us: our channel is unbound" in h2.lines
    assert (ports, ended, grants) == (5, 165, 165), tail

    # Customer A's traffic went through all of it.
    assert netlog.pings(a1) == [("10.0.0.2", 0, 20, 20)] and netlog.pings(a2) == [("10.0.0.1", 0, 50, 50)], tail
    assert any(line.startswith("stream to 10.0.0.1: 2097152 bytes") and line.endswith("match") for line in a2.lines)
    assert any(line.startswith("sniffer: heard") and line.endswith(", 0 of them watched") for line in sniff.lines)
    assert log.frames_stop == log.frames_boot, tail
