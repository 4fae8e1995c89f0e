# SPDX-License-Identifier: MIT
"""Every scenario in tests/scenarios/ that no other test boots must end in SUCCESS: this is where
tests scaffolded by `moat new-test` run until they get a test file of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moat.pytest_plugin import assert_xtf

from .conftest import SCENARIOS

TESTS = Path(__file__).resolve().parent.parent
_USE = re.compile(r"""(?:run_scenario|run_evtchn|scenario_path)\(\s*["']([\w-]+)["']""")


def covered() -> set[str]:
    """Scenario names that a dedicated test (anywhere under tests/) boots."""
    names: set[str] = set()
    for test in TESTS.rglob("test_*.py"):
        if test.name != Path(__file__).name:
            names.update(_USE.findall(test.read_text(encoding="utf-8")))
    return names


UNCOVERED = sorted(p.stem for p in SCENARIOS.glob("*.toml") if p.stem not in covered())


def test_the_dedicated_tests_name_scenarios_that_exist():
    missing = sorted(covered() - {p.stem for p in SCENARIOS.glob("*.toml")})
    assert missing == []


@pytest.mark.parametrize("name", UNCOVERED or [pytest.param("", marks=pytest.mark.skip("none"))])
def test_scenario_succeeds(run_scenario, name):
    assert_xtf(run_scenario(name))
