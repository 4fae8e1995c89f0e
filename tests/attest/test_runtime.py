# SPDX-License-Identifier: MIT
"""After an attestation the system changes (a policy load, a relabel, a new domain holding the TPM):
the next quote must show each (PCR 22), measured before it took effect."""

from __future__ import annotations

import re

import pytest

from moat.attest import eventlog, verify

from .helpers import SCENARIOS, console_has

pytestmark = pytest.mark.boot

RUNTIME = SCENARIOS / "runtime.toml"
UPDATE = SCENARIOS.parent / "policies" / "attest-update.toml"


def test_a_policy_loaded_at_run_time_shows_in_the_next_quote(attested, reference_of) -> None:
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
        audited = re.search(r"^mac: domain (\d+) 'idle' relabelled", s.console, re.MULTILINE)

    v1 = verify.judge(knows_update, first)
    assert v1.ok and v1.runtime == [], v1.problems
    assert first.quote.pcrs[22] == b"\0" * 32

    v2 = verify.judge(knows_update, second)
    assert v2.ok, v2.problems
    assert second.quote.pcrs[22] != b"\0" * 32
    assert v2.runtime[0].startswith("policy 'attest-test' 1.1 loaded at run time (revoke mode)"), v2.runtime
    assert v2.runtime[1] == "domain idle relabelled customer-a -> customer-b", v2.runtime
    # The relabel's record names the domain by its id too: the id of the hypervisor's audit line.
    events = (eventlog.decode_moat(e) for e in eventlog.parse(second.hypervisor_log, "hypervisor").events)
    relabels = [m.fields for m in events if m is not None and m.tag == eventlog.TAG_RELABEL]
    assert audited is not None and [(f["domid"], f["name"]) for f in relabels] == [(int(audited[1]), "idle")], relabels
    assert v2.runtime[2].startswith("domain agent-2 created at run time by domain 1: label attest, image attest_agent")
    assert v2.facts["policy"]["version"] == "1.1"
    # The boot measurements still stand, unchanged.
    assert second.quote.pcrs[21] == first.quote.pcrs[21]

    # A verifier that was not told about 1.1 says exactly that.
    v3 = verify.judge(boot_only, second)
    assert not v3.ok
    assert v3.problems == [f"{v2.runtime[0]}: not a policy the reference knows"]


def test_quotes_while_the_hypervisor_seizes_the_tpm(attested, reference_of) -> None:
    """Twenty-four measured policy loads while the agent answers: each seizes the TPM, the agent sends
    the interrupted command again (or redoes the key or the credential), every quote is good, and
    each verdict covers exactly the loads its quote covers (the log, read after the quote, may hold
    more). The loads alternate revoke and refuse mode, and each event records its own. Loads far
    more often than a key takes to make could starve the agent: that is a denial of service by a
    domain allowed to load policies, never a false verdict."""
    ref = reference_of(SCENARIOS / "storm.toml", (UPDATE,))
    loads = []
    with attested(SCENARIOS / "storm.toml") as (s, session):
        session.hello()
        ek, ak = session.enrol()
        for _ in range(6):
            q = session.quote(ak)
            v = verify.judge(ref, verify.Evidence("agent", ek, ak, q, session.log("fw"), session.log("hv")))
            assert v.ok, v.problems
            loads.append(len(v.runtime))
        assert console_has(s, r"\(d1\) loaded the update policy 24 times", timeout=120), s.console[-2000:]
        q = session.quote(ak)
        v = verify.judge(ref, verify.Evidence("agent", ek, ak, q, session.log("fw"), session.log("hv")))
        session.bye()
        assert console_has(s, r"attest agent: the verifier said bye")
    assert v.ok and len(v.runtime) == 24 and v.facts["measured_after_the_quote"] == 0, v.problems
    # The loader alternates revoke and refuse mode (the first load revokes): each measured event
    # records the mode of its own load (setpolicy's measure_policy call), in the log and the quote.
    modes = [m[1] for line in v.runtime if (m := re.search(r" loaded at run time \((\w+) mode\)", line))]
    assert modes == ["revoke", "refuse"] * 12, v.runtime
    assert loads == sorted(loads), loads  # each quote covers at least what the one before did
    seized = re.search(r"\((\d+) TPM commands sent again after a seize\)", s.console)
    assert seized, s.console[-1000:]
    print(f"{seized[1]} commands interrupted, {loads} loads covered by the successive quotes")
