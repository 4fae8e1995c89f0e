# SPDX-License-Identifier: MIT
"""The whole tree passes `moat check`: both compilers, gcc -fanalyzer, scan-build, cppcheck,
ruff, mypy and a 20-second libFuzzer run of the policy parser find nothing.

One test per analyzer (`moat check --only NAME`), so that pytest-xdist runs them on both workers
at once instead of the whole check on one (369 s of a worker's wall time in CI from a fresh clone,
longer than all the rest of that worker's share). They are marked long_running, so they are
handed out before everything else, and parametrised in check.COST_ORDER, the costliest first
(scan-build alone is about 60 % of a cold check), so that the short ones fill in around them.
gcc runs in the same test as gcc -fanalyzer and clang in the same as scan-build: each pair builds
once (check.SHARED_BUILD), as in a whole `moat check`; the others share no step. Their processes run at a
lower priority (nice 10) so that the boot tests keep the CPUs they need; they use whatever is
left over. The analyzers' own tests (planted findings) are in tests/tools/test_check.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from moat.commands import check
from moat.pytest_plugin import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]


# Each analyzer with those whose work its build does too (check.SHARED_BUILD: gcc in gcc
# -fanalyzer's, clang in scan-build's), costliest first.
GROUPS = [[key, *(k for k, builder in check.SHARED_BUILD.items() if builder == key)]
          for key in check.COST_ORDER if key not in check.SHARED_BUILD]


def test_every_analyzer_has_its_test():
    assert sorted(check.COST_ORDER) == sorted(a.key for a in check.ANALYZERS)
    assert sorted(key for group in GROUPS for key in group) == sorted(a.key for a in check.ANALYZERS)


@pytest.mark.long_running
@pytest.mark.parametrize("analyzers", GROUPS, ids=["+".join(group) for group in GROUPS])
def test_moat_check_finds_nothing(analyzers: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "moat", "check", "--only", ",".join(analyzers)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, check=False,
                          preexec_fn=lambda: os.nice(10))
    if proc.returncode == 3:
        skip_or_fail(f"moat check could not run: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"moat check: clean: 0 findings from {len(analyzers)} analyzers" in proc.stdout, proc.stdout
