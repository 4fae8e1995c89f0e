# SPDX-License-Identifier: MIT
"""Quotas per label (issue 14 part 2, docs/resource-control.md), booted with the policy
tests/scenarios/policies/quota-test.toml. Each figure below is the label's limit: without the
limit the guest goes on to its cap of 64 (or gets past it), and the test fails."""

from __future__ import annotations

import re

from moat import qemu
from moat.pytest_plugin import assert_xtf
from tests.domains import domlog

XEN_ENOMEM, XEN_ENOSPC = -12, -28


def quota_lines(dom: domlog.Domain) -> list[str]:
    return [line[len("quota: "):] for line in dom.lines if line.startswith("quota: ")]


def number(lines: list[str], pattern: str) -> tuple[int, ...]:
    for line in lines:
        m = re.fullmatch(pattern, line)
        if m:
            return tuple(int(g) for g in m.groups())
    raise AssertionError(f"no line matches {pattern!r} in {lines}")


def run_one(run_scenario, name: str, role: str, timeout: float) -> tuple[qemu.BootResult, domlog.Log, list[str]]:
    """Boot scenario `name`, whose domain `role` must end in SUCCESS: the boot, its log and the
    role's quota lines."""
    result = run_scenario(name, timeout=timeout)
    log = domlog.parse(result.console)
    assert log.named(role).result == "SUCCESS", result.tail()
    assert_xtf(result)
    return result, log, quota_lines(log.named(role))


def test_quotas_per_label(run_scenario) -> None:
    result = run_scenario("quota", timeout=120)
    log = domlog.parse(result.console)
    for name in ("ctl", "mgr", "lim", "free", "hog", "peer"):
        assert log.named(name).result == "SUCCESS", name
    assert_xtf(result)

    ctl = quota_lines(log.named("ctl"))
    assert "5 corrupted quota sections refused, old policy kept" in ctl
    # small: 1 MiB = 256 frames; a 128 KiB domain is charged 32 frames of RAM and its page
    # tables, info pages and extended-state page (about 40 in all): 6 fit, the 7th does not.
    # First 1 MiB less 16 KiB: its RAM is charged, its page tables and info pages are not
    # (refused whole, before the six below; were its charges kept, fewer would fit).
    assert number(ctl, r"small of 1 MiB less 16 KiB: rc=(-?\d+)") == (XEN_ENOMEM,)
    small, rc = number(ctl, r"small created (\d+), then rc=(-?\d+)")
    assert (small, rc) == (6, XEN_ENOMEM), ctl
    assert number(ctl, r"big creates beside it: rc=(-?\d+)") == (0,)
    # metering read by domctl getstats: 32 pages of RAM, and more frames charged than that
    pages, frames, ports = number(ctl, r"big child meters: pages=(\d+) frames=(\d+) ports=(\d+)")
    assert pages == 32 and 32 < frames < 48 and ports == 0
    assert "share of the child read and set: weight=512 cap=30" in ctl
    assert number(ctl, r"big of 8 MiB: rc=(-?\d+)") == (0,)
    assert number(ctl, r"big of 16 MiB: rc=(-?\d+)") == (0,)  # within big's 64 MiB
    # a relabel moves the domain's charges to its new label's row (quota_relabel): one small
    # relabelled to big leaves room for exactly one more small; relabelled back, small is full
    assert number(ctl, r"one small relabelled to big: rc=(-?\d+), then a small rc=(-?\d+), another rc=(-?\d+)") == (
        0, 0, XEN_ENOMEM), ctl
    assert number(ctl, r"relabelled back to small: rc=(-?\d+), then a small rc=(-?\d+)") == (0, XEN_ENOMEM), ctl
    # the dead domains' frames all came back to the label: exactly as many fit again
    assert number(ctl, r"small created (\d+) again after the deaths") == (small,)

    # mgr may have 3 domains, itself included: 2 tenants, then -ENOSPC (tenant has no quota)
    mgr = quota_lines(log.named("mgr"))
    assert number(mgr, r"mgr created (\d+) tenants, then rc=(-?\d+)") == (2, XEN_ENOSPC)
    assert "mgr reads the meters of itself and its tenants, not of others" in mgr

    lim, free = quota_lines(log.named("lim")), quota_lines(log.named("free"))
    ports_lim, rc = number(lim, r"lim allocated (\d+) ports, then rc=(-?\d+)")
    assert (ports_lim, rc) == (8, XEN_ENOSPC), lim
    # a closed port gives back one unit: one more port, then -ENOSPC again
    assert number(lim, r"lim closed port 1 \(rc=(-?\d+)\): again rc=(-?\d+), then rc=(-?\d+)") == (0, 0, XEN_ENOSPC)
    assert number(free, r"free allocated (\d+) ports, then rc=(-?\d+)")[0] > 8
    assert "lim grant table of 2 frames: no_space; of 1: okay" in lim
    assert "free grant table of 2 frames: okay; of 1: okay" in free
    assert "lim mapped 4 grants, then no_space" in lim
    assert "free mapped 8 grants, then no limit" in free

    # Two labels: hog spends all of zone-a's quotas (lim's) and holds them; then peer, of zone-b
    # (6 ports, 2 grant frames, 3 mappings), still gets every one of its own (each counts its
    # channel to the other as its first port). Charged to all labels together, or to the other
    # label, peer would get none of them, or zone-a's limits.
    hog, peer = quota_lines(log.named("hog")), quota_lines(log.named("peer"))
    assert "peer starts while hog holds all of its label's quota" in peer
    assert number(hog, r"hog allocated (\d+) ports, then rc=(-?\d+)") == (8, XEN_ENOSPC), hog
    assert "hog grant table of 2 frames: no_space; of 1: okay" in hog
    assert "hog mapped 4 grants, then no_space" in hog
    assert number(peer, r"peer allocated (\d+) ports, then rc=(-?\d+)") == (6, XEN_ENOSPC), peer
    assert "peer grant table of 2 frames: okay; of 1: okay" in peer
    assert "peer mapped 3 grants, then no_space" in peer


def test_a_relabel_to_the_creators_own_label_charges_the_creators_row_once(run_scenario) -> None:
    """tests/scenarios/quota_relabel.toml: boss (3 domains, itself included) relabels the worker it
    created to boss, the creator's own label (charged once, in its own row), and back: each time
    boss's row holds 2, so exactly one more worker fits. A creator's row left charged by the
    relabel, or never charged again, shows as none or two."""
    _, _, boss = run_one(run_scenario, "quota_relabel", "boss", 60)
    for label in ("boss", "worker"):
        assert number(boss, rf"boss's worker relabelled to {label}: rc=(-?\d+), then a worker rc=(-?\d+), "
                      r"another rc=(-?\d+)") == (0, 0, XEN_ENOSPC), boss


def test_a_creation_refused_at_each_step_gives_back_its_frames_quota_and_slot(run_scenario) -> None:
    """Domains of label small with RAM of 1 MiB less k pages, k = 0, 1, ...: the RAM's charge
    passes, and of what the creation takes after it (page tables, the start-info and shared-info
    pages) the first k fit, so each k refuses a later step (hv/core/domain.c, domain_create),
    until the domain fits whole. Each refused one must give back the slot it was built in (the
    guest checks that the next domain gets the id a probe had before), its label's quota (as many
    128 KiB domains fit afterwards as in test_quotas_per_label) and every frame (free at stop)."""
    result, log, lines = run_one(run_scenario, "quota_starve", "starve", 120)
    # A 1 MiB domain's page tables, extended-state page and two info pages: 4 to 24 frames.
    refused, rc = number(lines, r"small of 1 MiB less k pages: refused for k < (\d+), then rc=(-?\d+)")
    assert 4 <= refused < 24 and rc == 0, lines
    assert number(lines, r"small created (\d+) after the refusals, then rc=(-?\d+)") == (6, XEN_ENOMEM), lines
    assert log.frames_boot and log.frames_stop and log.frames_stop[1] == log.frames_boot[1], result.tail()


def test_charges_made_without_limits_count_when_the_limits_come_back(run_scenario) -> None:
    """Under a policy without limits the label rows' sums are not kept (hv/core/quota.c); every
    policy load rebuilds them from what each domain holds. Three small domains made under
    quota-none.toml (the same labels, no limits) must still count once quota-test.toml is loaded
    back: exactly three more fit (six in all, as in test_quotas_per_label), not six more."""
    _, _, lines = run_one(run_scenario, "quota_limits", "limits", 120)
    assert number(lines, r"small created (\d+) without limits, then (\d+) more with them") == (3, 3), lines
