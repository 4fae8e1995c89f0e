# SPDX-License-Identifier: MIT
"""End-to-end verdicts of `moat attest`: the good path through the CLI, and systems that differ
from their reference or whose agent lies. Each boot has a fresh software TPM (swtpm) with an EK
certificate from swtpm's local CA."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from moat.attest import AttestError, eventlog, verify
from moat.pytest_plugin import MoatCli

from .helpers import SCENARIOS, fresh_tpm, require_swtpm

pytestmark = pytest.mark.boot


def test_good_path_through_the_cli(tmp_path: Path, moat_cli: MoatCli) -> None:
    """reference, then run: exit 0, what a customer can read, and --for customer-a."""
    require_swtpm()
    ref = tmp_path / "ref.json"
    r = moat_cli("attest", "reference", str(SCENARIOS / "agent.toml"), "-o", str(ref), "--no-build")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "verdict.json"
    fresh_tpm("test-cli-good")
    r = moat_cli("attest", "run", str(SCENARIOS / "agent.toml"), "--reference", str(ref), "--no-build",
                 "--json", str(out), "--for", "customer-a", "--tpm", "test-cli-good")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VERIFIED: the system runs what the reference describes" in r.stdout
    data = json.loads(ref.read_text())
    assert f"hypervisor   sha256 {data['hypervisor']['sha256']}" in r.stdout
    assert "policy       'attest-test' 1.0" in r.stdout
    assert "domain a-web        label customer-a   image hello" in r.stdout
    assert "labels that can never run while it runs (Chinese Wall): customer-b (rivals)" in r.stdout
    verdict = json.loads(out.read_text())
    assert verdict["verified"] is True and verdict["problems"] == []
    assert verdict["assurance"]["domains"] == ["a-web"]
    assert verdict["seconds"]["verification"] > 0


def test_another_image_fails_naming_the_domain_and_the_cli_exits_1(tmp_path: Path, moat_cli: MoatCli) -> None:
    """A domain booted with another image than its reference's: the one problem names the domain and
    the digest it should have had (and blames no other domain); the CLI says so and exits 1."""
    require_swtpm()
    ref = tmp_path / "ref.json"
    assert moat_cli("attest", "reference", str(SCENARIOS / "agent.toml"), "-o", str(ref), "--no-build").returncode == 0
    fresh_tpm("test-cli-other")
    out = tmp_path / "verdict.json"
    r = moat_cli("attest", "run", str(SCENARIOS / "other_image.toml"), "--reference", str(ref), "--no-build",
                 "--json", str(out), "--for", "customer-a", "--tpm", "test-cli-other")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NOT VERIFIED: 1 problem(s):\n  - domain a-web: image sha256 " in r.stdout
    assert "customer-a: no assurance: the system did not verify" in r.stdout
    problems = json.loads(out.read_text())["problems"]
    want = next(d for d in json.loads(ref.read_text())["domains"] if d["name"] == "a-web")["image_sha256"][:16]
    assert any(p.startswith("domain a-web: image sha256 ") and f"expected {want}" in p for p in problems), problems
    assert not any("agent" in p for p in problems if p.startswith("domain")), problems
    # (an exception the CLI does not turn into a message fails the test in moat_cli, as a traceback would)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = moat_cli("attest", "run", str(SCENARIOS / "agent.toml"), "--reference", str(bad), "--no-build")
    assert r.returncode == 3 and "not a moat attestation reference" in r.stderr


def _judge(attested, scen: Path, ref) -> verify.Verdict:
    with attested(scen) as (_s, session):
        evidence = session.collect()
        session.bye()
    return verify.judge(ref, evidence)


def test_another_policy_fails_naming_the_policy(attested, reference_of) -> None:
    ref = reference_of(SCENARIOS / "agent.toml")
    v = _judge(attested, SCENARIOS / "other_policy.toml", ref)
    assert not v.ok
    assert any(p.startswith("policy: 'attest-lax' 1.0 sha256") and "expected 'attest-test' 1.0" in p
               for p in v.problems), v.problems


def _liar(tmp_path: Path, lie: str) -> Path:
    """agent.toml with the lying agent (same label and devices)."""
    text = (SCENARIOS / "agent.toml").read_text()
    text = text.replace('image = "attest_agent"', f'image = "attest_liar"\ncmdline = "lie={lie}"')
    policy = SCENARIOS.parent / "policies" / "attest.toml"
    text = text.replace('policy = "../policies/attest.toml"', f'policy = "{policy}"')
    path = tmp_path / f"liar-{lie.replace(',', '-')}.toml"
    path.write_text(text)
    return path


def test_a_replayed_quote_is_refused(attested, reference_of, tmp_path: Path) -> None:
    scen = _liar(tmp_path, "replay")
    ref = reference_of(scen)
    with attested(scen) as (_s, session):
        session.hello()
        _ek, ak = session.enrol()
        first = session.quote(ak)  # the liar keeps this one
        assert verify.judge(ref, verify.Evidence("x", _ek, ak, first, session.log("fw"), session.log("hv"))).ok
        with pytest.raises(AttestError, match=r"is not the nonce we sent.*replayed or stale quote"):
            session.quote(ak)
        session.bye()


def test_a_forged_log_does_not_replay(attested, reference_of, tmp_path: Path) -> None:
    """The liar changes a domain's image digest in the log and re-digests the event: the log is
    consistent in itself, but PCR 21 holds what the hypervisor extended."""
    scen = _liar(tmp_path, "log")
    v = _judge(attested, scen, reference_of(scen))
    assert not v.ok
    assert any(p.startswith(f"PCR {eventlog.PCR_BOOT}: the hypervisor log replays to ") for p in v.problems), v.problems
    assert "none of the logged items can be trusted" in v.problems[-1]


def test_extending_a_firmware_pcr_breaks_its_replay(attested, reference_of, tmp_path: Path) -> None:
    scen = _liar(tmp_path, "extend-fw")
    v = _judge(attested, scen, reference_of(scen))
    assert not v.ok
    assert any(p.startswith("PCR 7: the firmware log replays to ") for p in v.problems), v.problems


def test_the_tpm_holder_cannot_extend_the_hypervisors_pcrs_nor_misuse_measure_op(attested, reference_of,
                                                                                 tmp_path: Path) -> None:
    """Two misuses by the TPM holder, in one boot, that must change nothing the verifier sees, so
    the system verifies. Locality 0 cannot extend PCR 21: the TPM answers TPM_RC_LOCALITY. Only the
    TPM holder passes measure_op's first check (the others get -EPERM, tests/mac's errors suite):
    its bad arguments each get their own code."""
    scen = _liar(tmp_path, "extend-hv,bad-calls")
    with attested(scen) as (s, session):
        evidence = session.collect()
        session.bye()
    assert "attest liar: tried to extend PCR 21 from locality 0: rc 0x907" in s.console
    # -EINVAL (no such log), -ENOSYS (no such op), 0 bytes past the end and when none are asked,
    # -EFAULT (a buffer in the hypervisor's half), and exactly the last byte of the log.
    assert ("attest liar: measure_op: unknown log rc -22, unknown op rc -38, past the end rc 0, "
            "into a bad buffer rc -14, nothing asked rc 0, one byte rc 1") in s.console
    v = verify.judge(reference_of(scen), evidence)
    assert v.ok, v.problems


def test_the_reference_and_tpm2_eventlog_predict_the_quoted_pcrs(attested, reference_of, tmp_path: Path) -> None:
    """One good boot's quote against two predictions of it: the reference's PCRs 20 and 21 (computed
    without booting; PCR 22 reset at boot, nothing changed since), and tpm2-tools' own parser
    reading the hypervisor's log and computing the PCRs the TPM quoted."""
    ref = reference_of(SCENARIOS / "agent.toml")
    with attested(SCENARIOS / "agent.toml") as (_s, session):
        evidence = session.collect()
        session.bye()
    q = evidence.quote
    assert q.pcrs[20].hex() == ref.data["pcrs"]["20"]
    assert q.pcrs[21].hex() == ref.data["pcrs"]["21"]
    assert q.pcrs[22] == b"\0" * 32

    if shutil.which("tpm2_eventlog") is None:
        pytest.skip("tpm2_eventlog not installed (the reference's prediction held)")
    log = tmp_path / "hv.log"
    log.write_bytes(evidence.hypervisor_log)
    r = subprocess.run(["tpm2_eventlog", str(log)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pcrs = {int(m[1]): m[2] for m in re.finditer(r"^\s+(\d+) : 0x([0-9a-fA-F]{64})$", r.stdout, re.M)}
    assert {p: v.lower() for p, v in pcrs.items()} == {p: q.pcrs[p].hex() for p in (20, 21)}
