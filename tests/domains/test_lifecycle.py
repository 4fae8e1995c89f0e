# SPDX-License-Identifier: MIT
"""Create and destroy a domain 100 times through domctl (plus children that power off by
themselves and a refused oversized one): the free-frame count at stop equals the one at boot."""

from __future__ import annotations

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


def test_a_reused_slot_has_no_ports_of_its_last_domain(run_scenario):
    """domain_create clears a slot's port table only up to the new domain's port limit (and one
    past it): a child whose every port was taken is destroyed, and the next child, created in the
    same slot, finds every port closed and gets port 1 first."""
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
