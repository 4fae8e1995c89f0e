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
_PICKED = re.compile(r"""scenario_path\(\s*(?!["'\s])""")  # scenario_path(name): a name from a list
_LITERAL = re.compile(r"""["']([\w-]+)["']""")


def _dedicated_tests() -> list[str]:
    return [test.read_text(encoding="utf-8") for test in TESTS.rglob("test_*.py") if test.name != Path(__file__).name]


def covered() -> set[str]:
    """Scenario names that a dedicated test (anywhere under tests/) boots by name."""
    return {name for text in _dedicated_tests() for name in _USE.findall(text)}


def picked(existing: set[str]) -> set[str]:
    """Scenarios that a dedicated test boots by a name from a list (`scenario_path(name)`, as in
    tests/resource/test_shares.py and tests/domains/test_xstate.py): the scenario names written
    as strings in such a file. Those tests check the scenario's result themselves; booting it
    here again would only cost a boot."""
    return {name for text in _dedicated_tests() if _PICKED.search(text)
            for name in _LITERAL.findall(text) if name in existing}


_EXISTING = {p.stem for p in SCENARIOS.glob("*.toml")}
UNCOVERED = sorted(_EXISTING - covered() - picked(_EXISTING))


def test_the_dedicated_tests_name_scenarios_that_exist():
    missing = sorted(covered() - {p.stem for p in SCENARIOS.glob("*.toml")})
    assert missing == []


@pytest.mark.parametrize("name", UNCOVERED or [pytest.param("", marks=pytest.mark.skip("none"))])
def test_scenario_succeeds(run_scenario, name):
    assert_xtf(run_scenario(name))
