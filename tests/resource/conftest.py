# SPDX-License-Identifier: MIT
"""Resource-control boot tests: reuse tests/domains' `run_scenario` fixture."""

from tests.domains.conftest import run_scenario  # noqa: F401  (a fixture, used by name)
