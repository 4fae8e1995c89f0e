# SPDX-License-Identifier: MIT
"""Boot tests of grant tables (tests/scenarios/gnt_*.toml, docs/grant-tables.md): every op and
error path, stress and maptrack exhaustion, death of either side, MAC denial and forced
revocation. Each checks the guests' own results, the lines that prove each part ran, and that
the free-frame count at stop equals the one at boot (nothing leaked, nothing freed twice)."""

from __future__ import annotations

import re

import pytest

from moat import qemu
from moat.pytest_plugin import assert_xtf, log_tail
from tests.domains import domlog
from tests.domains.conftest import GUEST_TIMEOUT, scenario_path

GRANT_VA = 0x80_0000_0000
GRANT_SIZE = 1 << 30


def failures(dom: domlog.Domain) -> list[str]:
    return [line for line in dom.lines if line.startswith(("Fail:", "Error:", "PANIC"))]


def check_common(result: qemu.BootResult) -> domlog.Log:
    """Both guests reported no failure, the granter found every grant released, no frame leaked."""
    log = domlog.parse(result.console)
    for dom in log.domains:
        assert not failures(dom), f"{dom.name}:\n" + "\n".join(failures(dom))
    granter = log.named("granter")
    assert granter.result == "SUCCESS", log_tail(result)
    assert any(re.fullmatch(r"peer: \d+ grants released and ended", line) for line in granter.lines), (
        log_tail(result))
    assert log.frames_boot is not None and log.frames_stop is not None, log_tail(result)
    assert log.frames_stop == log.frames_boot, f"frames at boot {log.frames_boot}, at stop {log.frames_stop}"
    return log


@pytest.mark.parametrize("cpu", ["default", "qemu64"])
def test_every_op_and_error_path(boot, cpu):
    """qemu64: a CPU without SMAP, where each op's element is copied in and out by the inline
    copy's out-of-line way (moat/guest_pt.h, copy_words_user), with its own fault fixup (the bad
    element addresses of item 16)."""
    result = boot(scenario_file=scenario_path("gnt_ops"), timeout=GUEST_TIMEOUT,
                  extra_args=["-cpu", "qemu64"] if cpu == "qemu64" else [])
    assert_xtf(result)
    log = check_common(result)
    mapper = log.named("mapper")
    for item in ("1", "2", "3 (setup)", "3 (copy)", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
                 "16", "17", "19", "21"):
        assert f"item {item} done" in mapper.lines, f"item {item} did not run\n{log_tail(result)}"
    assert "read-only pages done" in mapper.lines, log_tail(result)
    assert "pfn bounds done" in mapper.lines, log_tail(result)
    assert "window tables done" in mapper.lines, log_tail(result)
    assert mapper.result == "SUCCESS"
    # Another domain's table may not be set up by an unprivileged domain.
    assert "op=foreign-grant-setup" in result.console


def test_ten_thousand_maps_and_maptrack_exhaustion(run_scenario):
    result = run_scenario("gnt_stress", timeout=180)
    assert_xtf(result)
    log = check_common(result)
    mapper = log.named("mapper")
    assert "10000 map/unmap rounds done, 0 failures" in mapper.lines
    assert "maptrack exhaustion and recovery done" in mapper.lines


def test_mapper_death_releases_its_mappings(run_scenario):
    result = run_scenario("gnt_mapper_dies")
    assert_xtf(result)
    log = check_common(result)
    mapper = log.named("mapper")
    assert mapper.crash is not None and mapper.crash.mnemonic == "PF", log_tail(result)
    # A write (err bit 1) to a present (bit 0) user page (bit 2): the read-only mapping.
    assert mapper.crash.err == 0x7 and GRANT_VA <= mapper.crash.cr2 < GRANT_VA + GRANT_SIZE
    assert mapper.outcome == "killed"


def test_granter_death_keeps_mapped_pages_until_unmapped(run_scenario):
    result = run_scenario("gnt_granter_dies")
    assert_xtf(result)
    log = domlog.parse(result.console)
    assert not failures(log.named("mapper")), "\n".join(failures(log.named("mapper")))
    assert "orphaned pages unmapped" in log.named("mapper").lines
    assert log.named("reuser").result == "SUCCESS"
    assert log.frames_stop == log.frames_boot, f"frames at boot {log.frames_boot}, at stop {log.frames_stop}"


def test_ste_denial_leaves_nothing(run_scenario):
    result = run_scenario("gnt_deny")
    assert_xtf(result)
    log = check_common(result)
    assert "denials checked" in log.named("mapper").lines
    denials = re.findall(r"^MAC deny hook=(grant_map|grant_copy) subj=1:mapper obj=0:granter", result.console,
                         re.MULTILINE)
    assert denials.count("grant_map") == 10 and denials.count("grant_copy") == 10, denials


def test_revocation_of_1_10_100_mappings(run_scenario):
    result = run_scenario("gnt_revoke", timeout=180)
    assert_xtf(result)
    log = check_common(result)
    mapper = log.named("mapper")
    for n in (1, 10, 100):
        assert any(line.startswith(f"round {n}: relabel revoked {n + 1} grant mappings and 1 event channels")
                   for line in mapper.lines), log_tail(result)
        assert f"round {n}: {n} revoked unmaps" in mapper.lines
    # Each revocation is audited: one line each for the first few of a change, then the totals.
    revoked = re.findall(r"^MAC revoke grant 1:mapper handle \d+ of 0:granter$", result.console, re.MULTILINE)
    # At most 8 audit lines per change, one of them the event channel: 2, then 7 and 7 grants.
    assert len(revoked) == 2 + 7 + 7, revoked
    for n in (1, 10, 100):
        assert f"revoked 1 event channels, {n + 1} grant mappings" in result.console


def test_revocation_after_the_death_of_the_domain_in_the_slot_before(run_scenario):
    """`early` (slot 0) powers off before the mapper (slot 1) first relabels itself (the mapper
    waits for its end, after=early): its death takes its own slot out of the live set, and the
    sweeps still find the mapper's mappings."""
    result = run_scenario("gnt_revoke_after_death", timeout=180)
    assert_xtf(result)
    log = check_common(result)
    early = log.named("early")
    assert early.result == "SUCCESS" and early.outcome == "poweroff", log_tail(result)
    stopped = result.console.index("domain 0 'early' stopped")
    mapper = log.named("mapper")
    first = next(line for line in mapper.lines if line.startswith("round 1: relabel revoked"))
    assert stopped < result.console.index(first), "early was still running at the first sweep"
    for n in (1, 10, 100):
        assert any(line.startswith(f"round {n}: relabel revoked {n + 1} grant mappings and 1 event channels")
                   for line in mapper.lines), log_tail(result)


def test_revocation_reaches_domains_with_keyed_ids(run_scenario):
    """Under mitigate=domid a domain created at run time gets an id of 64 or more (a keyed hash,
    not its slot). Revocation must still find its mappings and channels: the mapper and the
    granter are both created at run time, and the mapper revokes its own by relabelling."""
    result = run_scenario("gnt_revoke_high_ids", timeout=180)
    assert_xtf(result)
    log = check_common(result)
    assert log.named("launcher").result == "SUCCESS", log_tail(result)
    mapper, granter = log.named("mapper"), log.named("granter")
    assert mapper.domid is not None and mapper.domid >= 64, mapper.domid
    assert granter.domid is not None and granter.domid >= 64, granter.domid
    for n in (1, 10, 100):
        assert any(line.startswith(f"round {n}: relabel revoked {n + 1} grant mappings and 1 event channels")
                   for line in mapper.lines), log_tail(result)
        assert f"round {n}: {n} revoked unmaps" in mapper.lines
    pair = rf"{mapper.domid}:mapper handle \d+ of {granter.domid}:granter"
    assert re.search(rf"^MAC revoke grant {pair}$", result.console, re.MULTILINE), log_tail(result)
    for n in (1, 10, 100):
        assert f"revoked 1 event channels, {n + 1} grant mappings" in result.console


def test_touching_a_revoked_page_faults(run_scenario):
    result = run_scenario("gnt_revoke_fault")
    assert_xtf(result)
    log = check_common(result)
    mapper = log.named("mapper")
    assert mapper.crash is not None and mapper.crash.mnemonic == "PF", log_tail(result)
    # Not present (err bit 0 clear): the page table entry is gone, at the address the guest named.
    assert mapper.crash.err & 1 == 0
    touched = next(line for line in mapper.lines if line.startswith("touching a revoked page at "))
    assert mapper.crash.cr2 == int(touched.rsplit(" ", 1)[1], 16)
    assert GRANT_VA <= mapper.crash.cr2 < GRANT_VA + GRANT_SIZE


def run_clean(run_scenario, name: str) -> tuple[qemu.BootResult, domlog.Log]:
    """Boots scenario `name`; it must pass and no domain may report a failure."""
    result = run_scenario(name)
    assert_xtf(result)
    log = domlog.parse(result.console)
    for dom in log.domains:
        assert not failures(dom), f"{dom.name}:\n" + "\n".join(failures(dom)) + "\n" + log_tail(result)
    return result, log


def assert_reuser_ended_clean(result, log) -> None:
    """The new granter that took the dead one's id ended well, finding every grant released, and
    every frame is back."""
    reuser = log.named("reuser")
    assert reuser.domid == log.named("granter").domid
    assert reuser.result == "SUCCESS", log_tail(result)
    assert any(re.fullmatch(r"peer: \d+ grants released and ended", line) for line in reuser.lines), log_tail(result)
    assert log.frames_stop == log.frames_boot, f"frames at boot {log.frames_boot}, at stop {log.frames_stop}"


def test_unmapping_a_dead_granters_pages_spares_the_domain_that_reused_its_id(run_scenario):
    """Kills the surviving mutant of issue 17 in which live_granter ignored the incarnation."""
    result, log = run_clean(run_scenario, "gnt_granter_reused")
    mapper = log.named("mapper")
    assert "the new granter's pins are intact" in mapper.lines, log_tail(result)
    assert_reuser_ended_clean(result, log)


def test_pages_past_the_first_gib_of_a_domains_address_space(run_scenario):
    """A 1 GiB domain's RAM (from GUEST_RAM_VA) crosses 1 GiB, where the hypervisor stops using
    its remembered page directory and walks: copies and mappings on either side reach the page
    they name (a `>=` made `>` at the line went to the wrong table)."""
    result = run_scenario("gnt_bigram", timeout=180)
    assert_xtf(result)
    log = domlog.parse(result.console)
    big = log.named("big")
    assert not failures(big), "\n".join(failures(big)) + "\n" + log_tail(result)
    assert big.result == "SUCCESS", log_tail(result)
    assert "262144 pages, checked around pfn 0x3fc00 (1 GiB)" in big.lines, log_tail(result)
    assert log.frames_stop == log.frames_boot, f"frames at boot {log.frames_boot}, at stop {log.frames_stop}"


def test_a_sweep_spares_a_dead_granters_pages_under_its_reused_id(run_scenario):
    """The mapper holds pages of a dead granter whose id a new granter (label a) now has, then
    relabels itself so that it shares nothing with label a: the policy sweep revokes the new
    granter's two mappings only. A sweep that knew granters by id alone (or took the last one
    it met for the next mapping of the same id) would revoke the dead one's pages in the new
    one's name, unpinning refs the new granter never had pinned."""
    result, log = run_clean(run_scenario, "gnt_granter_reused_revoke")
    mapper = log.named("mapper")
    assert mapper.result == "SUCCESS", log_tail(result)
    assert any(line.startswith("relabelled away: revoked 2 grant mappings") for line in mapper.lines), log_tail(result)
    assert "the sweep revoked only the new granter's mappings" in mapper.lines, log_tail(result)
    assert_reuser_ended_clean(result, log)


def test_a_map_and_a_table_growth_past_the_memory_quota_give_back_what_they_took(run_scenario):
    """A domain of a label with a 1 MiB memory quota spends its spare frames on grant page tables
    until a map finds no frame for its table, then asks its grant table to grow: both answer
    no_space and leave nothing behind (the map's pin and frame reference, the growth's pages)."""
    result = run_scenario("gnt_quota")
    assert_xtf(result)
    log = domlog.parse(result.console)
    small = log.named("small")
    assert not failures(small), "\n".join(failures(small)) + "\n" + log_tail(result)
    assert small.result == "SUCCESS", log_tail(result)
    maps = next(line for line in small.lines if line.startswith("quota: ") and "maps into fresh regions" in line)
    n = int(maps.split()[1])
    assert 0 < n < 127 and maps.endswith("then no_space"), maps
    assert "quota: every map unmapped, the grant ended" in small.lines, log_tail(result)
    assert log.frames_stop == log.frames_boot, f"frames at boot {log.frames_boot}, at stop {log.frames_stop}"
