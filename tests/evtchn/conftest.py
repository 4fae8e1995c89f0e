# SPDX-License-Identifier: MIT
"""The `run_evtchn` fixture: boots tests/scenarios/<name>.toml, optionally under icount, and
parses the console with tests/domains/domlog.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from moat import qemu
from moat.pytest_plugin import Booter, assert_xtf, log_tail
from tests.domains import domlog

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
TIMEOUT = 120.0  # TCG on a shared 2-core machine; each scenario takes a few seconds alone


@dataclass
class Run:
    result: qemu.BootResult
    log: domlog.Log

    def lines(self, name: str) -> list[str]:
        return self.log.named(name).lines

    def tail(self, n: int = 60) -> str:
        return log_tail(self.result, n)


@pytest.fixture
def run_evtchn(boot: Booter) -> Callable[..., Run]:
    def run(name: str, *, icount: bool = False, extra_args: Sequence[str] = ()) -> Run:
        result = boot(scenario_file=SCENARIOS / f"{name}.toml", timeout=TIMEOUT, icount=icount,
                      extra_args=list(extra_args))
        assert_xtf(result)
        log = domlog.parse(result.console)
        assert log.not_expected == 0, log_tail(result)
        return Run(result, log)

    return run
