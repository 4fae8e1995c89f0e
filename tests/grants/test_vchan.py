# SPDX-License-Identifier: MIT
"""Boot tests of vchan (docs/vchan.md): the 16 MiB demo with a checksum, and a hostile peer."""

from __future__ import annotations

import re

from moat.pytest_plugin import assert_xtf, log_tail
from tests.domains import domlog


def test_demo_streams_16_mib_with_matching_checksums(run_scenario):
    result = run_scenario("vchan_demo", timeout=180)
    assert_xtf(result)
    log = domlog.parse(result.console)
    server, client = log.named("vchan-server"), log.named("vchan-client")
    assert server.result == client.result == "SUCCESS", log_tail(result)
    got = next((m for line in server.lines if (m := re.fullmatch(r"received (\d+) bytes in \d+ ms, checksum (\w+)",
                                                                 line))), None)
    sent = next((m for line in client.lines if (m := re.fullmatch(
        r"sent (\d+) bytes in \d+ ms, checksum (\w+), server's (\w+)", line))), None)
    assert got and sent, log_tail(result)
    assert int(got[1]) == int(sent[1]) == 16 << 20
    assert got[2] == sent[2] == sent[3]
    assert log.frames_stop == log.frames_boot


def test_hostile_orders_and_indices_are_refused(run_scenario):
    result = run_scenario("vchan_hostile")
    assert_xtf(result)
    lines = domlog.parse(result.console).named("vchan-hostile").lines
    assert not [line for line in lines if line.startswith("Fail:")]
    for step in ("bad orders and live states refused", "hostile indices refused", "tolerated tampering survived"):
        assert step in lines, log_tail(result)
