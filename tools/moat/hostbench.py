# SPDX-License-Identifier: MIT
"""Benchmarks of the tools themselves, run on the host (`moat bench policy_compile`).

Unlike the bench scenarios these are wall-clock times in seconds, so they vary with the machine
and its load: each is run several times after a warm-up and quoted as min/median/max.

- policy_compile_5000_{toml,xml}_s: read, check and compile the generated 5,000-label policy
  (moat.policy.generate: 1,000 STE types, 200 conflict sets) from its source bytes, in one
  process, as `moat policy compile` does (the source is already in memory; the blob is not
  written);
- moat_help_s: `moat --help` from a fresh Python process (what the shell waits for; ./moat adds
  only a few shell built-ins once set up).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from moat.bench import Figure

RUNS = 7
NAME = "policy_compile"
FIGURES = ("policy_compile_5000_toml_s", "policy_compile_5000_xml_s", "moat_help_s")


def _timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up: imports, caches
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _figure(name: str, samples: list[float]) -> Figure:
    ordered = sorted(samples)
    median = ordered[(len(ordered) - 1) // 2]  # the lower median, an actual sample, as the guests do
    return Figure(name, round(ordered[0], 3), round(median, 3), round(ordered[-1], 3), len(samples), "s")


def compile_source(data: bytes, file: str) -> bytes:
    """What `moat policy compile` does between reading the file and writing the blob."""
    from moat.policy import compile_policy, read_policy_bytes
    from moat.policy.model import numbering
    from moat.policy.validate import check, fatal

    pol = read_policy_bytes(data, file)
    bad = fatal(check(pol), xen_compat=False)
    if bad:
        raise ValueError(f"the generated policy has errors: {bad[:3]}")
    return compile_policy(pol, numbering(pol))


def policy_compile(runs: int = RUNS) -> list[Figure]:
    from moat.policy.generate import generate
    from moat.policy.writers import to_toml, to_xml

    gen = generate()
    figures = []
    for fmt, text in (("toml", to_toml(gen)), ("xml", to_xml(gen))):
        data, file = text.encode(), f"perf.{fmt}"

        def once(data: bytes = data, file: str = file) -> bytes:
            return compile_source(data, file)

        figures.append(_figure(f"policy_compile_5000_{fmt}_s", _timed(once, runs)))
    return figures


def help_startup(runs: int = RUNS) -> Figure:
    script = Path(sys.executable).parent / "moat"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "moat"]
    return _figure("moat_help_s", _timed(lambda: subprocess.run([*cmd, "--help"], capture_output=True,
                                                                 check=True), runs))


def run(runs: int = RUNS) -> list[Figure]:
    return [*policy_compile(runs), help_startup(runs)]
