# SPDX-License-Identifier: MIT
"""moat: build, boot, inspect and test the moat micro-hypervisor."""

__version__ = "0.1.0"
