# SPDX-License-Identifier: MIT
"""The hypercall ABI: start-up state, -ENOSYS for unknown numbers, registers preserved, -EPERM
for domctl without the right, and every pointer-taking hypercall refusing bad pointers and
lengths while the guest carries on. The checks themselves run in the guests (images/tests/abi,
images/tests/badptr); a failed check prints `Fail: file:line: ...` and makes the result FAILURE."""

from __future__ import annotations

import re

from moat import bootpolicy, paths
from moat.pytest_plugin import assert_xtf, log_tail

from . import domlog


def _no_fail_lines(dom: domlog.Domain) -> None:
    fails = [line for line in dom.lines if line.startswith(("Fail:", "Error:", "PANIC"))]
    assert not fails, "\n".join(fails)


def test_abi_and_eperm(run_scenario):
    result = run_scenario("abi")
    log = domlog.parse(result.console)
    abi = log.named("abi")
    _no_fail_lines(abi)
    assert_xtf(result)
    assert abi.result == "SUCCESS" and abi.outcome == "poweroff"
    assert any(re.match(r"version \d+\.\d+, features 0x[0-9a-f]+$", line) for line in abi.lines), abi.lines
    # Unprivileged and without a label: the default policy's domU, which has no domctl rights.
    default = bootpolicy.default_policy(paths.build_dir() / "policies")
    assert abi.ssidref == default.ssidref("domU")
    assert "MAC deny hook=privileged" in result.console


def test_bad_pointers_are_refused(run_scenario):
    result = run_scenario("badptr")
    log = domlog.parse(result.console)
    dom = log.named("badptr")
    _no_fail_lines(dom)
    assert_xtf(result)
    survived = [line for line in dom.lines if line.startswith("survived ")]
    assert survived and int(survived[0].split()[1]) >= 80, log_tail(result)
    # Nothing a bad pointer pointed at reached the console, and the domain ended on its own terms.
    assert "this line must not appear" not in result.console
    assert dom.outcome == "poweroff"
    assert log.frames_boot and log.frames_stop and log.frames_boot[1] == log.frames_stop[1]
