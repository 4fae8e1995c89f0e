# SPDX-License-Identifier: MIT
"""MAC boot tests: reuse tests/domains' `run_scenario` fixture (boots tests/scenarios/<name>.toml)."""

from tests.domains.conftest import run_scenario  # noqa: F401  (a fixture, used by name)
