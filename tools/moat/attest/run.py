# SPDX-License-Identifier: MIT
"""One attested boot: start the system with its TPM and agent, verify it through the agent, let
it run to its end, and return the verdict with the system's console (`moat attest run` and
`moat demo` both use it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from moat import qemu, xtf
from moat.attest import AttestError, swtpm, system, verify
from moat.attest.reference import Reference


@dataclass
class AttestedRun:
    verdict: verify.Verdict
    result: qemu.BootResult
    evidence: verify.Evidence | None
    seconds: float
    verified_after: float  # seconds from the start to the verdict


def attested_run(scen: Path, ref: Reference, *, tpm_name: str, timeout: float, log: Path | None = None,
                 on_line: Callable[[str], None] | None = None,
                 on_verdict: Callable[[verify.Verdict], None] | None = None) -> AttestedRun:
    t0 = time.monotonic()
    verdict = verify.Verdict()
    evidence = None
    status = qemu.Status.TIMEOUT
    lines: list[str] = []
    exit_code: int | None = None
    verified_after = 0.0
    try:
        with system.boot(scen, tpm_name=tpm_name, log=log, on_line=on_line) as s:
            try:
                session = verify.Session(s.link, swtpm.trusted_ca_files())
                s.link.wait_ready(min(timeout, 180.0))
                evidence = session.collect()
                session.bye()
                verdict = verify.judge(ref, evidence)
            except AttestError as e:
                verdict.fail(str(e))
            verified_after = time.monotonic() - t0
            if on_verdict is not None:
                on_verdict(verdict)
            status = s.wait(max(1.0, timeout - (time.monotonic() - t0)))
            lines, exit_code = s.lines, s.exit_code
    except AttestError as e:
        verdict.fail(str(e))
    console = "\n".join(lines) + ("\n" if lines else "")
    parsed = xtf.parse(console)
    result = qemu.BootResult(exit_code=exit_code, status=status, xtf=parsed.result if parsed else None,
                             xtf_reason=parsed.reason if parsed else "", console=console, log_path=log,
                             duration=time.monotonic() - t0, timeout=timeout)
    return AttestedRun(verdict, result, evidence, time.monotonic() - t0, verified_after)
