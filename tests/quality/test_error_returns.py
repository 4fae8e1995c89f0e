# SPDX-License-Identifier: MIT
"""Every error return of every hypercall handler is reached by a test (issue 17), checked on the
last whole `moat coverage` run (build/coverage/last-full.json): each line of the handlers' files
that returns or sets an error (`-XEN_E...`, a GNTST_ error status, a lookup's denial through
xsm_no_domain) must have run, unless tests/quality/unreached-errors.toml lists it with the reason.
Like the thresholds, it skips when there is no whole run (CI). A line with no code of its own at
-O2 (its return shares an epilogue) is not coverable and not judged here; the guests' own checks
of the returned codes cover those (tests/mac/test_errors.py and the suites it names)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from moat.paths import build_dir

# The hypercall handlers' files (hv/core/hypercall.c's table) and the code they call to decide.
HANDLER_FILES = (
    "hv/core/hypercall.c", "hv/core/console_io.c", "hv/core/sched.c", "hv/core/event_channel.c",
    "hv/core/grant_table.c", "hv/core/domctl.c", "hv/core/domain.c", "hv/core/device.c",
    "hv/core/measure.c", "hv/xsm/acm.c", "hv/core/vcpu.c", "hv/core/sched_share.c", "hv/core/quota.c",
)
ERROR_LINE = re.compile(r"(?:\breturn|=)\s*(?:-XEN_E[A-Z0-9]+\b|GNTST_(?!okay\b)\w+|xsm_no_domain\()")
HERE = Path(__file__).resolve().parent


def error_lines(root: Path, file: str) -> dict[int, str]:
    lines = (root / file).read_text(encoding="utf-8").splitlines()
    return {n: text.strip() for n, text in enumerate(lines, 1) if ERROR_LINE.search(text)}


def load_unreached() -> list[dict[str, str]]:
    with open(HERE / "unreached-errors.toml", "rb") as f:
        return list(tomllib.load(f).get("unreached", []))  # none left: an empty list


def test_the_pattern_finds_the_handlers_error_returns(moat_root):
    found = {f: error_lines(moat_root, f) for f in HANDLER_FILES}
    assert all(found.values()), [f for f, v in found.items() if not v]
    assert sum(len(v) for v in found.values()) > 100
    texts = set().union(*(v.values() for v in found.values()))
    assert "return -XEN_ENOSYS;" in texts and "return GNTST_bad_handle;" in texts
    assert not any("GNTST_okay" in t for t in texts)


def test_every_unreached_entry_names_an_error_line_and_gives_a_reason(moat_root):
    for e in load_unreached():
        assert e["file"] in HANDLER_FILES, e
        assert e["line"] in error_lines(moat_root, e["file"]).values(), f"no such error line: {e}"
        assert len(e["reason"].split()) >= 8, f"give the reason: {e}"


def test_every_error_return_is_reached_or_listed(moat_root):
    last = build_dir(moat_root) / "coverage" / "last-full.json"
    if not last.is_file():
        pytest.skip(f"no whole `moat coverage` run yet ({last} is missing)")
    files = json.loads(last.read_text(encoding="utf-8"))["files"]
    excused: dict[tuple[str, str], dict[str, str]] = {(e["file"], e["line"]): e for e in load_unreached()}
    used: set[tuple[str, str]] = set()
    unreached = []
    for f in HANDLER_FILES:
        missed = set(files.get(f, {}).get("missed_lines", []))
        for n, text in error_lines(moat_root, f).items():
            if n not in missed:
                continue
            if (f, text) in excused:
                used.add((f, text))
            else:
                unreached.append(f"{f}:{n}: {text}")
    assert not unreached, "error returns no test reaches (add a test, or list them with the reason " \
                          "in tests/quality/unreached-errors.toml):\n" + "\n".join(unreached)
    stale = sorted(set(excused) - used)
    assert not stale, f"listed as unreached but reached now (remove them): {stale}"
