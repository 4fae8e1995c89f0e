# SPDX-License-Identifier: MIT
"""Create and destroy a domain 100 times through domctl (plus children that power off by
themselves and a refused oversized one): the free-frame count at stop equals the one at boot."""

from __future__ import annotations

import re

from moat.pytest_plugin import assert_status, assert_xtf, log_tail

from . import domlog


def test_create_destroy_100_times_frees_every_frame(run_scenario):
    result = run_scenario("lifecycle", timeout=180)
    log = domlog.parse(result.console)
    controller = log.named("lifecycle")
    fails = [line for line in controller.lines if line.startswith(("Fail:", "Error:"))]
    assert not fails, "\n".join(fails)
    assert_xtf(result)
    assert "100 create/destroy rounds done" in controller.lines
    children = [d for d in log.domains if d.name in ("sleep-child", "spin-child")]
    assert len(children) == 100
    assert all(d.outcome == "killed" for d in children), {d.outcome for d in children}
    hellos = log.all_named("hello-child")
    assert len(hellos) == 3 and all(d.outcome == "poweroff" and d.result == "SUCCESS" for d in hellos)
    assert log.frames_boot is not None and log.frames_stop is not None, log_tail(result)
    assert log.frames_stop[1] == log.frames_boot[1], (
        f"free frames at boot {log.frames_boot[1]}, at stop {log.frames_stop[1]}")
    assert log.frames_stop == log.frames_boot


def test_a_refused_creations_keyed_id_is_drawn_again(run_scenario):
    """Under mitigate=domid a created domain's id is a keyed hash (64 and up) that no live domain
    has, drawn before the image is checked; a refused creation gives it back (hv/core/domain.c,
    free_slot). 1,500 creations from a module that is no ELF image, each refused with a console
    line naming its id: by the birthday bound one of the 32,688 ids comes up twice within a few
    hundred (none in 1,500 with probability e^-34). A hypervisor that kept freed ids taken would
    never repeat one, and would hang once all were used."""
    result = run_scenario("lifecycle_ids", timeout=180)
    controller = domlog.parse(result.console).named("lifecycle")
    fails = [line for line in controller.lines if line.startswith(("Fail:", "Error:"))]
    assert not fails, "\n".join(fails)
    assert_xtf(result)
    assert "1500 refused creations done" in controller.lines, log_tail(result)
    ids = [int(m.group(1)) for line in result.lines
           if (m := re.match(r"domain (\d+) 'id-probe': image module 0 refused: ", line))]
    assert len(ids) == 1500, log_tail(result)
    assert all(64 <= i < 0x7FF0 for i in ids), sorted(ids)[:3]
    assert len(set(ids)) < len(ids), "no keyed id of a refused creation was drawn again"


def test_a_reused_slot_has_no_ports_of_its_last_domain(run_scenario):
    """domain_create clears a slot's port table only up to the new domain's port limit (and one
    past it): a child whose every port was taken is destroyed, and the next child, created in the
    same slot, finds every port closed and gets port 1 first. A child in the slot after it lives
    through that creation: the clear stays inside the new domain's own slot."""
    result = run_scenario("lifecycle_ports")
    controller = domlog.parse(result.console).named("lifecycle")
    fails = [line for line in controller.lines if line.startswith(("Fail:", "Error:"))]
    assert not fails, "\n".join(fails)
    assert_xtf(result)
    assert "port table round done: 1023 ports" in controller.lines, log_tail(result)


def test_a_domain_of_the_most_vcpus_is_torn_down_whole(run_scenario):
    """A domain of MOAT_MAX_VCPUS vCPUs (only vCPU 0 started) powers off: every vCPU slot is torn
    down and no other memory is (a loop one past the last vCPU would read past the array)."""
    result = run_scenario("hello_8_vcpus")
    assert_xtf(result)
    log = domlog.parse(result.console)
    [dom] = log.domains
    assert dom.result == "SUCCESS" and dom.outcome == "poweroff", log_tail(result)
    assert "moat: all domains stopped: 1 as expected, 0 not" in result.console, log_tail(result)
    assert log.frames_boot is not None and log.frames_stop == log.frames_boot, log_tail(result)


def test_a_boot_whose_worst_result_is_skip_stops_with_success(run_scenario):
    result = run_scenario("hello_skip")
    assert "Test result: SKIP" in result.lines, log_tail(result)
    assert "moat: all domains stopped: 1 as expected, 0 not" in result.lines, log_tail(result)
    assert_status(result, "SUCCESS")


def test_a_domain_that_reboots_ends_as_expected(run_scenario):
    result = run_scenario("hello_reboot")
    assert_xtf(result)
    [dom] = domlog.parse(result.console).domains
    assert dom.result == "SUCCESS" and dom.outcome == "reboot", log_tail(result)
    assert "moat: all domains stopped: 1 as expected, 0 not" in result.lines, log_tail(result)
