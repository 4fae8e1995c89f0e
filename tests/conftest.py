# SPDX-License-Identifier: MIT
"""Shared pytest set-up: load moat's pytest plugin (the `boot` fixture, assert_xtf)."""

import sys
from pathlib import Path

# ./moat installs the moat package into .venv; this keeps a bare `pytest` working too.
_TOOLS = str(Path(__file__).resolve().parent.parent / "tools")
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

pytest_plugins = ("moat.pytest_plugin",)
