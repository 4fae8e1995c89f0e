# SPDX-License-Identifier: MIT
"""The formatter behind every printk and snprintf of the hypervisor (hv/lib/format.c): the
self-test `selftest=format` checks each conversion, flag, width and precision against the
expected text, and vsnprintf's bounds (nothing written at or past the size, always terminated,
the full length returned). The guests compile the same file into their library."""

from __future__ import annotations

from moat.pytest_plugin import assert_xtf


def test_format_selftest(boot) -> None:
    result = boot("selftest=format", selftest=True)
    assert "check failed" not in result.console, result.console
    assert "selftest: format: 18 cases" in result.console, result.tail()
    assert_xtf(result, "SUCCESS")
