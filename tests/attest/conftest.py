# SPDX-License-Identifier: MIT
"""The attestation tests' fixtures (defined in helpers.py)."""

from .helpers import attested, reference_of

__all__ = ["attested", "reference_of"]
