# SPDX-License-Identifier: MIT
"""Subcommands of `moat`; each module has register(subparsers) and sets func=run."""
