# SPDX-License-Identifier: MIT
"""CI runs the README's test command (DEVELOPERS.md), then `moat check`: the two stay the same."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ci_commands() -> list[str]:
    """The `./moat ...` commands .ci/run runs, in order (each line's command before any `||`)."""
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    return [m.group(1).strip() for m in re.finditer(r"^(?:exec )?(\./moat [^\n#|]*)", run, re.MULTILINE)]


def test_ci_runs_the_readme_test_command() -> None:
    commands = ci_commands()
    tests = [c for c in commands if c.startswith("./moat test")]
    assert len(tests) == 1, f".ci/run does not run ./moat test once: {commands}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert tests[0] in lines, f"README's test command is not {tests[0]!r}: {lines}"
    assert "--smp 2" in tests[0]  # the suite on two CPUs (issue 11)


def test_ci_runs_the_static_analysis_too_and_fails_if_either_fails() -> None:
    """`moat check` left the timed suite (docs/testing.md, eighteenth round), not CI."""
    assert ci_commands() == ["./moat test --smp 2", "./moat check"]
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -e" not in run.replace("set -euo", "set -uo")  # a failed test run must not skip the check
    assert re.search(r'^exit "\$status"$', run, re.MULTILINE)
    assert "./moat check" in (ROOT / "README.md").read_text(encoding="utf-8").split("## Two commands", 1)[1][:800]
