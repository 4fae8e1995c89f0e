# SPDX-License-Identifier: MIT
"""The test build's hypercall log (hv/core/hclog.c, `hclog=<domid>`), which `moat noninterference
--hypercalls` reads as the low domain's view: every hypercall of the named domain, and only of
it, one line each with its result; an id that is not a plain decimal domain id logs nothing
rather than some other domain's calls. (65536 logged domain 0's until round 10: the parser
checked its bound before the last digit, and the id was compared as a 16-bit domid.)"""

from __future__ import annotations

import re

import pytest

from moat.pytest_plugin import Booter, assert_xtf
from tests.domains.conftest import scenario_path

HELLO = scenario_path("hello")
LINE = re.compile(r"^hc: d(\d+) nr=(\d+) op=(\d+) ret=(-?\d+)$")


def logged(boot: Booter, value: str) -> list[re.Match[str]]:
    result = boot(f"hclog={value}", scenario_file=HELLO, selftest=True)
    assert_xtf(result)
    return [m for line in result.lines if (m := LINE.match(line))]


def test_the_named_domain_s_hypercalls_are_logged(boot: Booter) -> None:
    calls = logged(boot, "0")
    assert calls, "domain 0's hypercalls were not logged"
    assert {m.group(1) for m in calls} == {"0"}
    # hello's console writes (console_io, hypercall 18) answer the bytes written.
    assert any(m.group(2) == "18" and int(m.group(4)) > 0 for m in calls), [m.group(0) for m in calls]


@pytest.mark.parametrize("value", ["", "1", "0x0", "-0", "70000", "65536", "4294967296"],
                         ids=["empty", "another-domain", "hex", "signed", "too-large", "2-to-the-16", "2-to-the-32"])
def test_any_other_value_logs_nothing_of_domain_0(boot: Booter, value: str) -> None:
    assert logged(boot, value) == []
