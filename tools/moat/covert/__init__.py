# SPDX-License-Identifier: MIT
"""Covert channels: the inventory, the measured pairs (`moat covert`) and noninterference runs."""
