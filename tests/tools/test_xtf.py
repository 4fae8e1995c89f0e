# SPDX-License-Identifier: MIT
"""moat.xtf: result lines and how they combine with the exit status."""

from __future__ import annotations

import pytest

from moat import xtf
from moat.xtf import Outcome, Xtf


def test_parse_line():
    assert xtf.parse_line("Test result: SUCCESS") == xtf.XtfLine(Xtf.SUCCESS, "")
    assert xtf.parse_line("Test result: SKIP: no SMAP here") == xtf.XtfLine(Xtf.SKIP, "no SMAP here")
    assert xtf.parse_line("guest 1: Test result: FAILURE: x != y") == xtf.XtfLine(Xtf.FAILURE, "x != y")
    assert xtf.parse_line("Test result: PASSED") is None
    assert xtf.parse_line("hello") is None


def test_last_result_line_counts():
    console = "boot\nTest result: FAILURE: early\nmore\nTest result: ERROR: late\nmoat: stop: failure\n"
    assert xtf.parse(console) == xtf.XtfLine(Xtf.ERROR, "late")
    assert xtf.parse("boot\nno result\n") is None


@pytest.mark.parametrize("result,status,expected", [
    (Xtf.SUCCESS, "SUCCESS", Outcome.SUCCESS),
    (Xtf.SUCCESS, "FAILURE", Outcome.FAILURE),
    (Xtf.FAILURE, "FAILURE", Outcome.FAILURE),
    (Xtf.ERROR, "FAILURE", Outcome.ERROR),
    (Xtf.SKIP, "SUCCESS", Outcome.SKIP),
    (None, "SUCCESS", Outcome.CRASH),
    (None, "FAILURE", Outcome.CRASH),
    (Xtf.SUCCESS, "CRASH", Outcome.CRASH),
    (Xtf.SUCCESS, "TIMEOUT", Outcome.CRASH),
])
def test_outcome(result, status, expected):
    assert xtf.outcome(result, status) is expected
