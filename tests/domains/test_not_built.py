# SPDX-License-Identifier: MIT
"""A boot domain that cannot be built counts against the boot unless the scenario says it may
fail (`expect = "any"`, as tests/mac/test_chwall.py's refused boot domains do): the other domains
run, and the hypervisor's verdict is FAILURE, so a CI run notices a domain that silently never
started."""

from __future__ import annotations

from moat.qemu import Status


def test_a_boot_domain_not_built_fails_the_boot(run_scenario) -> None:
    result = run_scenario("not_built")
    console = result.console
    # The label check refuses the ssidref beyond the policy (-EINVAL) before anything is built.
    # The name whole: the escape buffer holds the longest name (31 bytes, each printed as itself).
    assert "domain 'never-built-with-a-31-byte-name' not created: error -22" in console, result.tail()
    assert "(d0) hello from domain 0 'runs', 256 pages, cmdline 'greeting=hello'" in console
    assert "(d0) Test result: SUCCESS" in console  # the domain that was built succeeded ...
    assert "domain 0 'runs' stopped: poweroff" in console, result.tail()
    assert "greeting=unseen" not in console
    assert "moat: all domains stopped: 1 as expected, 1 not" in console, result.tail()
    assert "\nTest result: FAILURE" in console  # ... and the boot, the hypervisor's own line, failed
    assert result.status is Status.FAILURE, result.describe()
