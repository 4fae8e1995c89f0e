# SPDX-License-Identifier: MIT
"""A short `moat soak`: 100,000 random hypercalls from three fuzzer domains (images/tests/hcfuzz)
in one boot. Every call is made and counted, the fuzzers list the (op, result) pairs they saw,
the hypervisor never faults, every domain ends as expected and no frame leaks. (The long run,
`moat soak` with its default 1,000,000 calls, is not part of the suite.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from moat.pytest_plugin import require_qemu

ROOT = Path(__file__).resolve().parents[2]
CALLS = 100_000


def test_a_short_soak_passes():
    require_qemu()
    log = ROOT / "build" / "test-logs" / "soak-100000.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "moat", "soak", "--calls", str(CALLS), "--seed", "7",
                           "--no-build", "--log", str(log), "--timeout", "240"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"moat soak: calls made: {CALLS} of {CALLS}" in out
    assert "moat soak: hypervisor faults: 0; " in out
    frames = re.search(r"free frames: (\d+) at boot, (\d+) at stop", out)
    assert frames and frames[1] == frames[2], out
    # The pairs are real: the fuzzers hit successes and errors of many ops, each printed.
    pairs = re.search(r"distinct \(op, result\) pairs: (\d+)", out)
    assert pairs and int(pairs[1]) >= 100, out
    console = log.read_text()
    assert re.search(r"hcfuzz: pairs 17\.0:.* \+", console), "xen_version's positive answer is not listed"
    assert re.search(r"hcfuzz: pairs 20\.\d+:.* -14", console), "no grant-table op reported -EFAULT"
    assert "moat soak: passed" in out
