# SPDX-License-Identifier: MIT
"""Xen ACM policies: read (XML, TOML), check, compile to the binary, decode, query, diff.

See docs/policy-format.md (the binary) and docs/policy-language.md (the inputs).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path

from .binary import ACM_MAGIC, Blob, BlobError, compile_policy, decode
from .model import Diagnostic, Policy, PolicyReadError

__all__ = [
    "Blob",
    "BlobError",
    "Diagnostic",
    "Policy",
    "PolicyReadError",
    "compile_policy",
    "decode",
    "is_blob",
    "read_policy",
    "read_policy_bytes",
]


def is_blob(data: bytes) -> bool:
    return data[:4] == ACM_MAGIC.to_bytes(4, "big")


def read_policy_bytes(data: bytes, file: str) -> Policy:
    """Parse XML or TOML (chosen by the file name, then by content).

    Each reader is imported when first needed (the XML one loads lxml). Reading makes many small
    objects and no reference cycles, so the cycle collector is paused meanwhile: it would only
    scan them again and again (a third of the time on a 5,000-label policy).
    """
    with _collector_paused():
        if file.endswith(".toml") or (not file.endswith(".xml") and data.lstrip()[:1] != b"<"):
            from .tomlreader import read_toml

            return read_toml(data, file)
        from .xmlreader import read_xml

        return read_xml(data, file)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_policy(path: str | Path) -> Policy:
    path = Path(path)
    return read_policy_bytes(path.read_bytes(), str(path))
