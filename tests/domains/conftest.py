# SPDX-License-Identifier: MIT
"""Guest-domain boot tests: a `run_scenario` fixture that boots tests/scenarios/<name>.toml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from moat import qemu
from moat.pytest_plugin import Booter

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
GUEST_TIMEOUT = 90.0  # TCG on a shared 2-core machine; the scenarios take a few seconds each


def scenario_path(name: str) -> Path:
    return SCENARIOS / f"{name}.toml"


@pytest.fixture
def run_scenario(boot: Booter) -> Callable[..., qemu.BootResult]:
    def run(name: str, timeout: float = GUEST_TIMEOUT) -> qemu.BootResult:
        return boot(scenario_file=scenario_path(name), timeout=timeout)

    return run
