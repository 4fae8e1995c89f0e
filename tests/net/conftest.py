# SPDX-License-Identifier: MIT
"""Network boot tests reuse the guest-domain tests' `run_scenario` fixture."""

from tests.domains.conftest import run_scenario

__all__ = ["run_scenario"]
