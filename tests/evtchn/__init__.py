# SPDX-License-Identifier: MIT
"""Boot tests of event channels (issue 4): the tests/scenarios/evtchn_*.toml scenarios."""
