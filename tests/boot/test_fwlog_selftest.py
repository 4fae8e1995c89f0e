# SPDX-License-Identifier: MIT
"""How much of the firmware's TPM event log area holds events (hv/core/measure_fwlog.c,
`selftest=fwlog`): the walk over the Spec ID header and the TCG_PCR_EVENT2 records, fed crafted
logs in the hypervisor's own build. Each check of the walk is met once: an area too short, a
missing signature, a header too short for its banks or past the area, no banks or more than
eight, an event with no digests, more digests than banks, an unknown bank, and an area that ends
inside an event's header, digests, size or data. The firmware the tests boot (SeaBIOS with
swtpm) only ever writes good logs, which tests/attest/ verify end to end."""

from __future__ import annotations

from moat.pytest_plugin import Booter, assert_xtf


def test_fwlog_selftest(boot: Booter) -> None:
    result = boot("selftest=fwlog", selftest=True)
    assert "check failed" not in result.console, result.tail()
    assert "selftest: fwlog: 19 checks" in result.lines, result.tail()
    assert_xtf(result, "SUCCESS")
