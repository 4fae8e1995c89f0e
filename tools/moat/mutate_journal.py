# SPDX-License-Identifier: MIT
"""The mutants already run, so that a long `moat mutate` can stop and be taken up again.

A whole run of the default files is about 1,700 mutants and takes hours; an interrupted run used
to lose everything. Now each result is appended, as one JSON line, to build/mutate/journal.jsonl
as soon as it is known. A line names the mutant, the tests it ran and a digest of everything its
outcome depends on: the hypervisor's, the guests' and the boot sources, the tests, the moat
tools and QEMU's version. `moat mutate --resume` takes a mutant's result from the journal when
the mutant, its tests and the digest are all the same, and runs only the others. Any change to
the tree (or another QEMU) gives another digest, so a result measured on another tree is never
counted. Two files are left out of the digest because they record the runs rather than decide
them: the list of equivalent mutants (applied when the report is made) and the thresholds.
Results that were errors (the run itself failed, not the tests) are not taken again.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moat.digest import inputs_digest
from moat.mutate import EQUIVALENT_FILE
from moat.qemu import qemu_program

JOURNAL_INPUTS = ("SConstruct", "boot", "hv", "images", "tests", "tools/moat")
NOT_INPUTS = (EQUIVALENT_FILE.as_posix(), "tests/quality/thresholds.toml")
# The outcomes a rerun would give again on the same tree ("error" is the runner's own failure).
REUSABLE = ("killed", "survived", "not_built")


def tree_digest(root: Path) -> str:
    qemu = shutil.which(qemu_program())
    return inputs_digest(root, JOURNAL_INPUTS, [qemu, "--version"] if qemu else [], skip=NOT_INPUTS)


@dataclass(frozen=True)
class Recorded:
    status: str
    seconds: float
    detail: str


class Journal:
    """build/mutate/journal.jsonl for the tree whose digest is `digest`."""

    def __init__(self, path: Path, digest: str) -> None:
        self.path = path
        self.digest = digest
        self._lock = threading.Lock()

    def load(self) -> dict[tuple[str, tuple[str, ...]], Recorded]:
        """This tree's reusable results by (mutant id, tests). A line that is not whole JSON (a run
        stopped while writing it) or of another tree is passed over; the last line of a mutant wins."""
        out: dict[tuple[str, tuple[str, ...]], Recorded] = {}
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            try:
                e = json.loads(line)
                if e["tree"] != self.digest or e["status"] not in REUSABLE:
                    continue
                key = (str(e["id"]), tuple(str(t) for t in e["tests"]))
                out[key] = Recorded(str(e["status"]), float(e["seconds"]), str(e["detail"]))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def record(self, mutant_id: str, tests: Sequence[str], status: str, seconds: float, detail: str) -> None:
        """Append one result; a single write of a whole line, flushed, so that a stopped run
        leaves at most its last line torn."""
        line = json.dumps({"tree": self.digest, "id": mutant_id, "tests": list(tests), "status": status,
                           "seconds": round(seconds, 1), "detail": detail}) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
