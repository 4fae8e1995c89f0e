# SPDX-License-Identifier: MIT
"""`moat demo` verifies the server for customer A before the story starts: the demo scenario with
a TPM, its agent answering the verifier, then the whole story as tests/demo checks it."""

from __future__ import annotations

import pytest

from moat import paths
from moat.attest.reference import compute
from moat.attest.run import attested_run
from moat.commands import demo

from .helpers import fresh_tpm, require_swtpm

pytestmark = pytest.mark.boot


def test_the_demo_is_verified_before_its_story() -> None:
    require_swtpm()
    scen = paths.repo_root() / demo.DEMO_SCENARIO
    ref = compute(scen)
    log = paths.build_dir() / "test-logs" / "tests_attest_test_demo_attest.log"
    fresh_tpm("test-demo")
    run = attested_run(scen, ref, tpm_name="test-demo", timeout=300.0, log=log)
    assert run.verdict.ok, run.verdict.problems
    assert run.result.status.value == "SUCCESS", run.result.tail(30)
    lines = run.result.lines
    # The story waited for the verifier: the agent left before step 1.
    agent_gone = lines.index("domain 11 'attest' stopped: poweroff")
    step1 = next(i for i, line in enumerate(lines) if "=== step 1:" in line)
    assert agent_gone < step1
    assert all(s.ok for s in demo.story(run.result.console)), demo.story(run.result.console)
    a = [d for d in run.verdict.facts["domains"] if d["label"] == "customer-a"]
    assert [d["name"] for d in a] == ["a-web", "a-db", "a-www", "a-sql"]
    # the twelve of the manifest, c-rival and s-extra (created by the system domain during the story)
    assert "moat: all domains stopped: 14 as expected, 0 not" in lines
