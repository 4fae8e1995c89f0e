# SPDX-License-Identifier: MIT
"""The test suite, one package (tests.domains, tests.policy, ...) so every module has one name."""
