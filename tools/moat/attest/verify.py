# SPDX-License-Identifier: MIT
"""The verifier: enrol the agent's AK, ask for a fresh quote, replay the logs, compare every
measured item with the reference, and say what a customer may rely on.

Order of trust (docs/attestation.md): the EK certificate chains to the trusted CA and certifies
the agent's EK; MakeCredential/ActivateCredential proves the AK lives in that same TPM (an AK
that is not bound to the checked EK is refused: Keylime's PYSEC-2022-184); the AK's signature and
our nonce make the quote fresh and genuine; the quoted PCRs make the event logs trustworthy only
if they replay to them; only then do the logged items mean anything, and each is compared with
the reference.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moat.attest import AttestError, eventlog, tpm
from moat.attest.agent import AgentLink, unhex
from moat.attest.reference import Reference, check_shape

LOG_CHUNK = 1024
MAX_LOG_SIZE = 1 << 20


@dataclass
class Evidence:
    """What one session with the agent produced, before any judgement about the system."""

    agent: str
    endorsement: tpm.Endorsement
    ak: Any
    quote: tpm.Quote
    firmware_log: bytes
    hypervisor_log: bytes
    session_seconds: float = 0.0


class Session:
    """One conversation with the agent. Each step raises AttestError if anything is off."""

    def __init__(self, link: AgentLink, ca_files: list[Path]) -> None:
        self.link = link
        self.ca_files = ca_files

    def hello(self) -> str:
        words = self.link.request("HELLO", "OK", 4)
        if f"{words[0]} {words[1]}" != "moat-attest 1":
            raise AttestError(f"agent: speaks {words[0]} {words[1]}, not moat-attest 1")
        return f"domain {words[2]} '{words[3]}'"

    def enrol(self) -> tuple[tpm.Endorsement, Any]:
        ek_pub, cert = self.link.request("EK", "EK", 2)
        endorsement = tpm.check_ek(unhex(ek_pub, "the EK public area", 4096), unhex(cert, "the EK certificate", 8192),
                                   self.ca_files)
        (ak_pub,) = self.link.request("AK", "AK", 1)
        ak = tpm.check_ak(unhex(ak_pub, "the AK public area", 4096))
        challenge = tpm.make_challenge(endorsement.ek_public, ak)
        (answer,) = self.link.request(f"ACTIVATE {challenge.blob.hex()} {challenge.encrypted.hex()}", "SECRET", 1)
        if unhex(answer, "the activated credential", 64) != challenge.secret:
            raise AttestError("AK enrolment: the credential came back wrong: the AK is not in the TPM whose EK "
                              "was certified; refused")
        return endorsement, ak

    def quote(self, ak: Any, pcrs: tuple[int, ...] = eventlog.QUOTED_PCRS, nonce: bytes | None = None) -> tpm.Quote:
        nonce = nonce if nonce is not None else secrets.token_bytes(32)
        mask = sum(1 << p for p in pcrs)
        attest, sig, values = self.link.request(f"QUOTE {nonce.hex()} {mask:x}", "QUOTE", 3)
        return tpm.check_quote(ak, unhex(attest, "the quote", 4096), unhex(sig, "the quote signature", 1024),
                               unhex(values, "the PCR values", 32 * 24), nonce, pcrs)

    def log(self, which: str) -> bytes:
        data = b""
        total = -1
        while total < 0 or len(data) < total:
            t, off, chunk = self.link.request(f"LOG {which} {len(data)}", "DATA", 3) if total != 0 else ("0", "0", "")
            try:
                t_i, off_i = int(t), int(off)
            except ValueError:
                raise AttestError(f"agent: LOG {which}: size or offset is not a number") from None
            # The hypervisor's log only grows (run-time measurements are appended while we read).
            if not total <= t_i <= MAX_LOG_SIZE:
                raise AttestError(f"agent: LOG {which}: a size of {t_i} bytes after {total}" if total >= 0 else
                                  f"agent: the {which} log claims {t_i} bytes")
            total = t_i
            if off_i != len(data):
                raise AttestError(f"agent: LOG {which}: inconsistent size or offset")
            part = unhex(chunk, f"the {which} log", LOG_CHUNK)
            if not part and len(data) < total:
                raise AttestError(f"agent: the {which} log ended at {len(data)} of {total} bytes")
            data += part
            if total == 0:
                break
        return data

    def bye(self) -> None:
        self.link.request("BYE", "BYE", 0)

    def collect(self) -> Evidence:
        start = time.monotonic()
        agent = self.hello()
        endorsement, ak = self.enrol()
        quote = self.quote(ak)
        fw = self.log("fw")
        hv = self.log("hv")
        return Evidence(agent, endorsement, ak, quote, fw, hv, time.monotonic() - start)


# ---------------------------------------------------------------------------- the verdict

@dataclass
class Verdict:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    runtime: list[str] = field(default_factory=list)
    runtime_later: int = 0  # events measured after the quote (left for the next one)
    verify_seconds: float = 0.0

    def fail(self, text: str) -> None:
        self.ok = False
        self.problems.append(text)


def _num(fields: dict[str, object], key: str) -> int:
    """A number field of a decoded moat event (eventlog.decode_moat makes them ints)."""
    v = fields[key]
    if not isinstance(v, int):
        raise AttestError(f"hypervisor log: field {key} is {v!r}, not a number")
    return v


def _short(h: str) -> str:
    return h[:16] + "..." if len(h) > 16 else h


def _replay(log: eventlog.EventLog, quote: tpm.Quote, pcrs: tuple[int, ...], verdict: Verdict, what: str) -> None:
    got = log.replay(pcrs)
    # A StartupLocality event (EV_NO_ACTION in PCR 0) sets PCR 0's first value to the locality.
    for ev in log.events:
        if ev.type == eventlog.EV_NO_ACTION and ev.pcr == 0 and ev.data.startswith(b"StartupLocality\0"):
            raise AttestError(f"{what} log: a StartupLocality event: not expected from this firmware")
    for p in pcrs:
        if got[p] != quote.pcrs[p]:
            verdict.fail(f"PCR {p}: the {what} log replays to {_short(got[p].hex())} but the TPM quoted "
                         f"{_short(quote.pcrs[p].hex())}: the log does not describe what was measured")


def _quoted_prefix(log: eventlog.EventLog, quote: tpm.Quote, v: Verdict) -> set[int]:
    """The events of moat's log that the quote covers. The log is read after the quote, and the
    system may have measured more in between (a policy load, say): for each PCR the quote covers
    the shortest prefix of its events that replays to the quoted value; later events are left
    for the next quote. No prefix replaying to it means the log does not describe the PCR."""
    covered: set[int] = set()
    for pcr in eventlog.MOAT_PCRS:
        value = eventlog.initial_value(pcr)
        events = [e for e in log.events if e.pcr == pcr and e.type != eventlog.EV_NO_ACTION]
        prefix: list[eventlog.Event] | None = [] if value == quote.pcrs[pcr] else None
        for i, e in enumerate(events):
            if e.sha256 is None:
                raise AttestError(f"hypervisor log: event {e.index} (PCR {pcr}) has no SHA-256 digest")
            value = eventlog.extend(value, e.sha256)
            if prefix is None and value == quote.pcrs[pcr]:
                prefix = events[:i + 1]
        if prefix is None:
            v.fail(f"PCR {pcr}: the hypervisor log replays to {_short(value.hex())} but the TPM quoted "
                   f"{_short(quote.pcrs[pcr].hex())}: the log does not describe what was measured")
            continue
        covered |= {e.index for e in prefix}
        later = len(events) - len(prefix)
        if later:
            v.runtime_later += later
    return covered


def _label(ref: dict[str, Any], policy: dict[str, Any] | None, ssidref: int) -> str:
    if policy:
        for name, lab in policy["labels"].items():
            if int(lab["ssidref"], 16) == ssidref:
                return str(name)
    return f"{ssidref:#010x}"


def judge(ref: Reference, ev: Evidence) -> Verdict:
    """Compare the evidence with the reference, item by item."""
    start = time.monotonic()
    check_shape(ref)
    r = ref.data
    v = Verdict()
    fw = eventlog.parse(ev.firmware_log, "firmware") if ev.firmware_log else None
    hv = eventlog.parse(ev.hypervisor_log, "hypervisor")
    if fw is not None:
        _replay(fw, ev.quote, eventlog.FIRMWARE_PCRS, v, "firmware")
        v.facts["firmware_events"] = len(fw.events)
    else:
        v.fail("the firmware's event log is missing (no ACPI TPM2 log area)")
    if any(e.pcr not in eventlog.MOAT_PCRS for e in hv.events):
        v.fail("the hypervisor log has events outside PCRs 20-22")
    covered = _quoted_prefix(hv, ev.quote, v)
    replay_ok = v.ok
    decoded = [(e, eventlog.decode_moat(e)) for e in hv.events if e.index in covered]

    # Boot measurements: exactly the reference's events, in order, in PCRs 20 and 21.
    boot = [(e, m) for e, m in decoded if e.pcr in (eventlog.PCR_HYPERVISOR, eventlog.PCR_BOOT)]
    want = [(int(x["pcr"]), int(x["type"]), bytes.fromhex(x["data"])) for x in r["events"]]
    ref_policy = r["policy"]
    _compare_boot(r, boot, want, v)
    for p in (eventlog.PCR_HYPERVISOR, eventlog.PCR_BOOT):
        if replay_ok and ev.quote.pcrs[p].hex() != r["pcrs"][str(p)] and v.ok:
            v.fail(f"PCR {p}: quoted {_short(ev.quote.pcrs[p].hex())}, the reference expects "
                       f"{_short(r['pcrs'][str(p)])}")

    # Run-time changes (PCR 22): policies loaded, relabels, domains created since boot.
    known = {p["sha256"]: p for p in r["known_policies"]}
    current = ref_policy
    images = {sha: name for name, sha in r["images"].items()}
    for e, m in decoded:
        if e.pcr != eventlog.PCR_RUNTIME or m is None:
            continue
        f = m.fields
        if m.tag == eventlog.TAG_POLICY:
            pol = known.get(str(f["sha256"]))
            text = (f"policy {f['name']!r} {f['version']} loaded at run time ({f['mode']} mode), "
                    f"sha256 {_short(str(f['sha256']))}")
            if pol is None:
                v.fail(f"{text}: not a policy the reference knows")
            else:
                current = pol
            v.runtime.append(text)
        elif m.tag == eventlog.TAG_DOMAIN:
            name = images.get(str(f["image_sha256"]))
            text = (f"domain {f['name']} created at run time by domain {f['creator']}: label "
                    f"{_label(r, current, _num(f, 'ssidref'))}, image {name or _short(str(f['image_sha256']))}")
            if name is None:
                v.fail(f"{text}: an image the reference does not know")
            v.runtime.append(text)
        elif m.tag == eventlog.TAG_RELABEL:
            v.runtime.append(f"domain {f['name']} relabelled {_label(r, current, _num(f, 'old_ssidref'))} -> "
                             f"{_label(r, current, _num(f, 'new_ssidref'))}")
        else:
            v.fail(f"hypervisor log: event {e.index}: a {m.kind} event in PCR 22")
    v.facts.update({
        "agent": ev.agent,
        "ek_certificate_chain": ev.endorsement.issuer_chain,
        "quote_clock_ms": ev.quote.clock,
        "hypervisor": {"sha256": r["hypervisor"]["sha256"], "cmdline": r["hypervisor"]["cmdline"]},
        "policy": {"name": current["name"], "version": current["version"], "sha256": current["sha256"]},
        "boot_policy": {"name": ref_policy["name"], "version": ref_policy["version"], "sha256": ref_policy["sha256"]},
        "domains": [{"name": d["name"], "label": d["label"], "image": d["image"], "image_sha256": d["image_sha256"]}
                    for d in r["domains"]],
        "runtime": v.runtime,
        "measured_after_the_quote": v.runtime_later,
    })
    if not replay_ok:
        v.problems.append("the logs do not replay to the quoted PCRs: none of the logged items can be trusted")
    v.verify_seconds = time.monotonic() - start
    return v


def _compare_boot(r: dict[str, Any], boot: list[tuple[eventlog.Event, eventlog.MoatEvent | None]],
                  want: list[tuple[int, int, bytes]], v: Verdict) -> None:
    got_items = {}
    for _e, m in boot:
        if m is None:
            continue
        key = (m.tag, m.fields.get("name") if m.tag == eventlog.TAG_DOMAIN else None)
        if key in got_items:
            v.fail(f"hypervisor log: {m.describe()} is measured twice at boot")
        got_items[key] = m
    want_items = {}
    for pcr, typ, data in want:
        if typ != eventlog.EV_EVENT_TAG:
            continue
        m = eventlog.decode_moat(eventlog.Event(-1, -1, pcr, typ, {eventlog.ALG_SHA256: _sha(data)}, data), "reference")
        assert m is not None
        want_items[(m.tag, m.fields.get("name") if m.tag == eventlog.TAG_DOMAIN else None)] = m

    hv_got, hv_want = got_items.get((eventlog.TAG_HYPERVISOR, None)), want_items[(eventlog.TAG_HYPERVISOR, None)]
    if hv_got is None:
        v.fail("hypervisor: its image was not measured")
    elif hv_got.fields["sha256"] != hv_want.fields["sha256"]:
        v.fail(f"hypervisor: image sha256 {_short(str(hv_got.fields['sha256']))} expected "
               f"{_short(str(hv_want.fields['sha256']))}")
    cl_got, cl_want = got_items.get((eventlog.TAG_CMDLINE, None)), want_items[(eventlog.TAG_CMDLINE, None)]
    if cl_got is None or cl_got.fields["cmdline"] != cl_want.fields["cmdline"]:
        v.fail(f"hypervisor: command line {cl_got.fields['cmdline'] if cl_got else None!r} expected "
               f"{cl_want.fields['cmdline']!r}")
    pol_got, pol_want = got_items.get((eventlog.TAG_POLICY, None)), want_items[(eventlog.TAG_POLICY, None)]
    if pol_got is None:
        v.fail("policy: the boot policy was not measured")
    elif pol_got.fields["sha256"] != pol_want.fields["sha256"]:
        v.fail(f"policy: '{pol_got.fields['name']}' {pol_got.fields['version']} sha256 "
               f"{_short(str(pol_got.fields['sha256']))}, expected '{pol_want.fields['name']}' "
               f"{pol_want.fields['version']} sha256 {_short(str(pol_want.fields['sha256']))}")
    man_got, man_want = got_items.get((eventlog.TAG_MANIFEST, None)), want_items[(eventlog.TAG_MANIFEST, None)]
    if man_got is None or man_got.fields["sha256"] != man_want.fields["sha256"]:
        v.fail("boot manifest: sha256 " + (_short(str(man_got.fields["sha256"])) if man_got else "(not measured)")
               + f" expected {_short(str(man_want.fields['sha256']))}")
    policy = r["policy"]
    for key, want_m in want_items.items():
        if key[0] != eventlog.TAG_DOMAIN:
            continue
        got_m = got_items.get(key)
        name = key[1]
        if got_m is None:
            v.fail(f"domain {name}: not measured (was it created?)")
            continue
        g, w = got_m.fields, want_m.fields
        for fld, label in (("image_sha256", "image sha256"), ("ssidref", "label"), ("memory_kib", "memory KiB"),
                           ("devices", "devices"), ("cmdline", "command line"), ("domid", "domain id"),
                           ("flags", "flags"), ("creator", "creator")):
            if g[fld] != w[fld]:
                if fld == "image_sha256":
                    v.fail(f"domain {name}: image sha256 {_short(str(g[fld]))} expected {_short(str(w[fld]))}")
                elif fld == "ssidref":
                    v.fail(f"domain {name}: label {_label(r, policy, int(g[fld]))} ({int(g[fld]):#010x}) expected "  # type: ignore[call-overload]
                           f"{_label(r, policy, int(w[fld]))} ({int(w[fld]):#010x})")  # type: ignore[call-overload]
                else:
                    v.fail(f"domain {name}: {label} {g[fld]!r} expected {w[fld]!r}")
    for key, m in got_items.items():
        if key not in want_items:
            v.fail(f"{m.describe()}: measured at boot but not in the reference")
    seps = [e.pcr for e, m in boot if m is None]
    if sorted(seps) != [eventlog.PCR_HYPERVISOR, eventlog.PCR_BOOT]:
        v.fail("hypervisor log: the boot measurements do not end with one separator in PCRs 20 and 21")
    order = [(e.pcr, e.type, e.data) for e, _ in boot]
    if v.ok and order != want:
        v.fail("hypervisor log: the boot events are the expected ones but not in the expected order")


def _sha(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()
