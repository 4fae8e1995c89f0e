# SPDX-License-Identifier: MIT
"""CI runs the README's test command (DEVELOPERS.md): the two stay the same."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command() -> None:
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    m = re.search(r"^exec (\./moat test[^\n#]*)$", run, re.MULTILINE)
    assert m, ".ci/run does not exec ./moat test"
    command = m.group(1).strip()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert command in lines, f"README's test command is not {command!r}: {lines}"
    assert "--smp 2" in command  # the suite on two CPUs (issue 11)
