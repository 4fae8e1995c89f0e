# SPDX-License-Identifier: MIT
"""Link teardown when a member dies with its link up (docs/networking.md): the surviving end
notices, closes its ports and gives back every grant or mapping; no frame is left behind."""

from __future__ import annotations

from . import netlog

GONE = "peer gone: the peer's channel is gone (it died, or the policy revoked the link)"


def test_a_members_death_frees_every_grant_and_port(run_scenario):
    log, tail = netlog.checked(run_scenario("net_teardown", timeout=150))
    for name in ("m1", "g1", "p2"):
        dead = log.named(name)
        assert dead.crash is not None and dead.crash.mnemonic == "UD", tail
        assert dead.outcome == "killed", tail
    # m1 and m2 each had every reply before either went (each waits for the other's bye).
    assert netlog.pings(log.named("m1")) == [("10.0.0.2", 0, 10, 10)], tail
    assert netlog.pings(log.named("m2")) == [("10.0.0.1", 0, 10, 10)], tail
    # On the switch (the granter of its links): the dead member's port goes down with nothing
    # mapped any more, and all 33 grants of each port are ended.
    switch = log.named("switch")
    down = netlog.ports_down(switch)
    assert down["m1"] == ("the peer's channel is gone (it died, or the policy revoked the link)", 0), down
    assert netlog.stopped(switch)[:3] == (2, 66, 66), tail
    # On direct links: the surviving mapper (p1) unmapped everything, the surviving granter (g2)
    # ended every grant; both closed their ports.
    for survivor in ("p1", "g2"):
        dom = log.named(survivor)
        assert GONE in dom.lines, dom.lines
        assert netlog.gave_back(dom), dom.lines
        assert dom.result == "SUCCESS"
    assert netlog.gave_back(log.named("m2"))
    assert log.frames_stop == log.frames_boot, tail
