# SPDX-License-Identifier: MIT
"""The policy blobs the MAC controller carries (images/tests/mac_ctl/blobs.{c,h}) are what the
compiler produces today from tests/scenarios/policies/ (regenerate: tests/mac/gen_blobs.py)."""

from __future__ import annotations

from . import gen_blobs


def test_checked_in_blobs_match_the_compiler():
    for file, text in gen_blobs.generate().items():
        path = gen_blobs.OUT / file
        assert path.read_text() == text, f"{path} is stale: run .venv/bin/python tests/mac/gen_blobs.py"


def test_boot_policy_labels_are_in_the_header():
    header = gen_blobs.generate()["blobs.h"]
    for label in ("SYSTEM", "RED", "BLUE", "GREEN", "ALPHA", "BETA", "GAMMA", "READER", "LIMITED", "ZOMBIE"):
        assert f"#define MAC_SSID_{label} 0x" in header
