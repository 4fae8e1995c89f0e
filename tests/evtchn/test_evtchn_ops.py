# SPDX-License-Identifier: MIT
"""Event-channel ops and their error paths (acceptance 22-32, 35, 36): the guests check every
return value themselves and end in `Test result: SUCCESS`; these tests also check that each
domain reached its end and that the racy parts really raced."""

from __future__ import annotations

import re

import pytest

EXHAUSTED = re.compile(r"^exhausted after (\d+) ports$")


@pytest.mark.parametrize("cpu", ["default", "qemu64"])
def test_single_domain_ops_at_three_port_limits(run_evtchn, cpu):
    """qemu64: a CPU without SMAP, where the send reads its port with the out-of-line load and
    its own fault fixup (get_u32_from_guest, moat/guest_pt.h); the guests' bad-pointer sends
    must get -EFAULT there too."""
    run = run_evtchn("evtchn_local", extra_args=["-cpu", "qemu64"] if cpu == "qemu64" else [])
    for name, limit in (("local-64", 64), ("local-default", 1024), ("local-4096", 4096)):
        dom = run.log.named(name)
        assert dom.result == "SUCCESS", "\n".join(dom.lines)
        assert dom.outcome == "poweroff"
        counts = [int(m.group(1)) for line in dom.lines if (m := EXHAUSTED.match(line))]
        assert counts == [limit - 1], dom.lines  # port 0 is never handed out


def test_interdomain_channels_between_three_domains(run_evtchn):
    run = run_evtchn("evtchn_pair")
    for name in ("pair-a", "pair-b", "pair-c"):
        assert run.log.named(name).result == "SUCCESS", run.tail()
    a, b = run.lines("pair-a"), run.lines("pair-b")
    # b was really sending when a closed, and kept going without a crash.
    sends = [int(m.group(1)) for line in b if (m := re.match(r"^a closed after (\d+) sends$", line))]
    assert len(sends) == 1 and sends[0] > 0, b
    assert any(line.startswith("closed while b was sending") for line in a), a
    assert any(re.match(r"^event loop: \d+ handler calls for 200 sends$", line) for line in a), a
    # The refused foreign ops were refused by the MAC module, not by accident.
    denials = [line for line in run.result.lines if line.startswith("MAC deny") and "subj=0:pair-a" in line]
    assert any("op=foreign-evtchn-status" in line for line in denials), denials
    assert any("op=foreign-evtchn ssid" in line for line in denials), denials  # reset, alloc_unbound_in
    assert any("op=watch" in line for line in denials), denials


def test_reset_racing_binds(run_evtchn):
    run = run_evtchn("evtchn_reset")
    b = run.lines("reset-b")
    m = next((m for line in b if (m := re.match(r"^binds=(\d+) reset_hits=(\d+) refused=(\d+)$", line))), None)
    assert m is not None, b
    binds, hits = int(m.group(1)), int(m.group(2))
    assert binds > 0 and hits > 0, b  # resets hit channels that were bound at the time
    assert "50 resets, then a working channel" in run.lines("reset-a")


def test_the_death_of_domain_0_spares_ports_that_never_named_it(run_evtchn):
    """A port never used for a channel (an IPI, a free port) keeps remote_dom 0 from its zeroed
    table: when domain 0 dies, only the ports unbound for it become unbound to no one."""
    run = run_evtchn("evtchn_death_d0")
    watcher = run.log.named("watcher")
    assert watcher.result == "SUCCESS", "\n".join(watcher.lines)
    assert "victim gone; port 2 unbound to no one" in watcher.lines
    assert "ports the victim never had are untouched" in watcher.lines
    assert "1 child rounds done" in watcher.lines
    assert run.log.named("victim").domid == 0
    bystander = run.log.named("bystander")  # its port 1 was unbound for the victim
    assert bystander.result == "SUCCESS" and "bystander: port 1 unbound to no one" in bystander.lines, bystander.lines


def test_domain_death_and_domid_reuse(run_evtchn):
    run = run_evtchn("evtchn_death")
    watcher = run.log.named("watcher")
    assert watcher.result == "SUCCESS", "\n".join(watcher.lines)
    assert "victim gone; port 2 unbound to no one" in watcher.lines
    assert "3 child rounds done" in watcher.lines
    children = run.log.all_named("evtchn-child")
    # Three bound children destroyed by domctl, three probes that succeeded, all with the victim's id.
    assert [c.outcome for c in children] == ["killed", "poweroff"] * 3, [(c.domid, c.outcome) for c in children]
    assert {c.domid for c in children} == {run.log.named("victim").domid}
    assert all(c.result == "SUCCESS" for c in children if c.outcome == "poweroff")


def test_raise_rules_and_the_bits_of_each_port(run_evtchn):
    """Xen's 2-level bookkeeping in the shared-info page, which the guest checks itself
    (images/tests/evtchn_raise): it fails on any upcall raised too often or too rarely, on a
    neighbour's bit touched, on a status or result left half written."""
    run = run_evtchn("evtchn_raise")
    dom = run.log.named("raise")
    assert dom.result == "SUCCESS", "\n".join(dom.lines)
    assert dom.outcome == "poweroff"
    assert "raise rules, edges, status, results, VIRQ rebind, reset and poll checked" in dom.lines


@pytest.mark.parametrize("scenario", ["evtchn_sendpoll", "evtchn_sendpoll_smp"])
def test_send_and_poll_in_one_hypercall(run_evtchn, scenario):
    """SCHEDOP_send_poll (public/sched.h) and evtchn_send_wait: the guests check the refusals and
    each answer themselves; here, that both reached their ends and that every request and every
    early event was taken exactly once (300 rounds, an early event before every third answer).
    _smp: the two domains on two CPUs (the C path, and each wake-up an IPI)."""
    run = run_evtchn(scenario)
    a, b = run.log.named("sp-a"), run.log.named("sp-b")
    assert a.result == "SUCCESS" and b.result == "SUCCESS", run.tail()
    assert "refusals checked" in a.lines, a.lines
    assert "a: 300 rounds, 100 early wake-ups" in a.lines, a.lines
    assert "b: answered 300 requests" in b.lines, b.lines
