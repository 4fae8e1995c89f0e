# SPDX-License-Identifier: MIT
"""After an attestation the system changes (a policy load, a relabel, a new domain holding the TPM):
the next quote must show each (PCR 22), measured before it took effect."""

from __future__ import annotations

import pytest

from moat.attest import verify

from .helpers import SCENARIOS, console_has

pytestmark = pytest.mark.boot

RUNTIME = SCENARIOS / "runtime.toml"
UPDATE = SCENARIOS.parent / "policies" / "attest-update.toml"


def test_a_policy_loaded_at_run_time_shows_in_the_next_quote(attested, reference_of) -> None:  # type: ignore[no-untyped-def]
    knows_update = reference_of(RUNTIME, (UPDATE,))
    boot_only = reference_of(RUNTIME)
    with attested(RUNTIME) as (s, session):
        first = session.collect()
        # While the agent holds the TPM, nobody else can be given it.
        assert console_has(s, r"\(d1\) a second agent while the first holds the TPM: -EBUSY")
        session.bye()
        # The loader sees the agent go, loads 1.1 (measured first) and starts agent-2 with the TPM.
        assert console_has(s, r"^mac: policy 'attest-test' version 1\.1 loaded \(revoke mode\)"), s.console[-2000:]
        assert console_has(s, r"\(d1\) started agent-2 as domain \d+"), s.console[-2000:]
        s.link.wait_ready()
        second = session.collect()
        session.bye()

    v1 = verify.judge(knows_update, first)
    assert v1.ok and v1.runtime == [], v1.problems
    assert first.quote.pcrs[22] == b"\0" * 32

    v2 = verify.judge(knows_update, second)
    assert v2.ok, v2.problems
    assert second.quote.pcrs[22] != b"\0" * 32
    assert v2.runtime[0].startswith("policy 'attest-test' 1.1 loaded at run time (revoke mode)"), v2.runtime
    assert v2.runtime[1] == "domain idle relabelled customer-a -> customer-b", v2.runtime
    assert v2.runtime[2].startswith("domain agent-2 created at run time by domain 1: label attest, image attest_agent")
    assert v2.facts["policy"]["version"] == "1.1"
    # The boot measurements still stand, unchanged.
    assert second.quote.pcrs[21] == first.quote.pcrs[21]

    # A verifier that was not told about 1.1 says exactly that.
    v3 = verify.judge(boot_only, second)
    assert not v3.ok
    assert v3.problems == [f"{v2.runtime[0]}: not a policy the reference knows"]
