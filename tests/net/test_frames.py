# SPDX-License-Identifier: MIT
"""Frames flow on allowed links (docs/networking.md): over one point-to-point link, and through the
switch domain, where each customer's domains reach each other and nobody else's, a trunk member
reaches both VLANs with tagged frames, and the switch follows a relabel at once."""

from __future__ import annotations

import re

from tests.domains import domlog

from . import netlog

STREAM_SENT = re.compile(r"stream to ([\d.]+): (\d+) bytes in \d+ datagrams, \d+ ms, checksum (\w{16}), "
                         r"receiver's (\w{16}): match")
STREAM_GOT = re.compile(r"stream from ([\d.]+): (\d+) bytes, checksum (\w{16}), sender's (\w{16}): all as expected")


def stream(sender: domlog.Domain, receiver: domlog.Domain) -> tuple[int, str]:
    """(bytes, checksum) of a stream both ends agree on."""
    sent = [m for line in sender.lines if (m := STREAM_SENT.fullmatch(line))]
    got = [m for line in receiver.lines if (m := STREAM_GOT.fullmatch(line))]
    assert len(sent) == len(got) == 1, (sender.lines, receiver.lines)
    assert sent[0][2] == got[0][2] and sent[0][3] == sent[0][4] == got[0][3] == got[0][4]
    return int(sent[0][2]), sent[0][3]


def test_a_direct_link_carries_pings_and_a_stream(run_scenario):
    log, tail = netlog.checked(run_scenario("net_direct"))
    left, right = log.named("left"), log.named("right")
    assert netlog.pings(left) == [("10.0.0.2", 0, 20, 20)], tail
    assert stream(right, left)[0] == 1 << 20
    assert netlog.gave_back(left) and netlog.gave_back(right), tail
    assert log.frames_stop == log.frames_boot, tail


def test_the_switch_keeps_customers_apart(run_scenario):
    log, tail = netlog.checked(run_scenario("net_switch", timeout=150))
    a1, a2, b1, b2, svc, switch = (log.named(n) for n in ("a1", "a2", "b1", "b2", "svc", "switch"))
    # Each customer's domains reach each other...
    assert netlog.pings(a1) == [("10.0.0.2", 0, 10, 10)] and netlog.pings(a2) == [("10.0.0.1", 0, 10, 10)], tail
    assert netlog.pings(b1) == [("10.0.0.4", 0, 10, 10)] and netlog.pings(b2) == [("10.0.0.3", 0, 10, 10)], tail
    assert stream(a2, a1)[0] == 1 << 20
    # ... and customer B never reaches customer A, though both use one subnet.
    assert "unreachable 10.0.0.1 vlan 0: no answer, as expected" in b1.lines
    assert "unreachable 10.0.0.2 vlan 0: no answer, as expected" in b1.lines
    assert "unreachable 10.0.0.1 vlan 0: no answer, as expected" in b2.lines
    # The service holds both types: a trunk port, VLAN 1 (net-a) and 2 (net-b), tagged frames only.
    assert "switch: port 4: link 4 to svc (" in "\n".join(switch.lines)
    assert any(re.fullmatch(r"switch: port 4: link 4 to svc \(.*\), VLAN 1,2 \(trunk port\)", line)
               for line in switch.lines), tail
    assert any(re.fullmatch(r"switch: port 0: link 0 to a1 \(.*\), VLAN 1 \(access port\)", line)
               for line in switch.lines), tail
    assert any(re.fullmatch(r"switch: port 2: link 2 to b1 \(.*\), VLAN 2 \(access port\)", line)
               for line in switch.lines), tail
    assert netlog.pings(svc) == [("10.0.0.1", 1, 10, 10), ("10.0.0.3", 2, 10, 10)], tail
    assert "unreachable 10.0.0.2 vlan 0: no answer, as expected" in svc.lines  # untagged on a trunk
    assert netlog.port_counts(switch)["svc"].drop_untagged > 0
    # Every member left cleanly, and the switch ended all 5 x 33 grants.
    assert all(netlog.gave_back(d) for d in (a1, a2, b1, b2, svc)), tail
    ports, ended, grants, _, evicted = netlog.stopped(switch) or (0, 0, 0, 0, 0)
    assert (ports, ended, grants, evicted) == (5, 165, 165, 0), tail
    assert log.frames_stop == log.frames_boot, tail


def test_the_switch_follows_a_relabel(run_scenario):
    result = run_scenario("net_relabel", timeout=150)
    log, tail = netlog.checked(result)
    svc, switch = log.named("svc"), log.named("switch")
    relabel = next(i for i, line in enumerate(svc.lines) if line.startswith("relabelled"))
    assert svc.lines[relabel] == "relabelled to 0x00060006: link vlans 0x3 -> 0x1", tail
    before = domlog.Domain(svc.domid, svc.name, svc.lines[:relabel])
    after = domlog.Domain(svc.domid, svc.name, svc.lines[relabel:])
    # Before: a trunk port, both VLANs reachable with tagged frames.
    assert netlog.pings(before) == [("10.0.0.1", 1, 3, 3), ("10.0.0.3", 2, 3, 3)], tail
    # After: an access port on VLAN 1; untagged frames reach A, tagged ones are dropped, B is out of reach.
    assert netlog.pings(after) == [("10.0.0.1", 0, 3, 3)], tail
    assert "unreachable 10.0.0.3 vlan 2: no answer, as expected" in after.lines
    assert "unreachable 10.0.0.3 vlan 0: no answer, as expected" in after.lines
    assert netlog.port_counts(switch)["svc"].drop_tagged > 0, tail
    assert "mac: domain 3 'svc' relabelled 0x00070007 -> 0x00060006: revoked 0 event channels, 0 grant mappings, " \
           "0 VIRQ bindings" \
        in result.lines, tail
    # gone closed its link and stopped before the relabel: the hypervisor's rewrite of every
    # published link passed over that one (a dead end), and the boot carried on.
    stopped = result.lines.index("domain 4 'gone' stopped: poweroff")
    assert stopped < next(i for i, line in enumerate(result.lines) if "'svc' relabelled" in line), tail
    assert log.frames_stop == log.frames_boot, tail
