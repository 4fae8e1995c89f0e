# SPDX-License-Identifier: MIT
"""AK enrolment: an AK from another TPM is refused, however the agent tries (Keylime's
PYSEC-2022-184 was a verifier that accepted an AK not bound to the EK it had checked)."""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from moat.attest import AttestError, verify
from moat.attest.agent import AgentLink

from .helpers import SCENARIOS, require_swtpm

if TYPE_CHECKING:
    from tpm2_pytss import ESAPI
    from tpm2_pytss.types import TPMT_SYM_DEF

pytestmark = pytest.mark.boot

# The agent's AK template (images/attest/attest_agent/tpm.c): a restricted ECDSA P-256 signing key.
AK_TEMPLATE = struct.pack(">HHIHHHHHHHH", 0x0023, 0x000B, 0x00050472, 0, 0x0010, 0x0018, 0x000B, 0x0003, 0x0010, 0, 0)


class OtherTpm:
    """A second swtpm, driven from the host with tpm2-pytss: an attacker's own TPM."""

    def __init__(self, work: Path, name: str) -> None:
        # An empty state directory: swtpm manufactures a TPM with seeds of its own when it starts.
        # The attacker's TPM needs no EK certificate (swtpm_setup: 0.6 s), only another EK seed.
        state = work / f"state-{name}"
        state.mkdir()
        self.sock = work / "other"
        self.err = work / "swtpm.err"
        with self.err.open("wb") as err:
            self.proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}", "--server",
                                          f"type=unixio,path={self.sock}", "--ctrl",
                                          f"type=unixio,path={self.sock}.ctrl", "--flags", "startup-clear"],
                                         stderr=err)
        self.esapi = self._connect(time.monotonic() + 10)
        self.ak: int | None = None

    def _connect(self, deadline: float) -> ESAPI:
        """The TCTI, once swtpm takes connections. A socket file appears at bind(), before swtpm
        listens on it, so a connection in between is refused ("tcti:IO failure", seen once on a
        loaded machine): try again until the deadline rather than when the files exist."""
        from tpm2_pytss import ESAPI, TCTILdr, TSS2_Exception

        while True:
            assert self.proc.poll() is None, f"the second swtpm exited: {self.err.read_text(errors='replace')}"
            if self.sock.exists() and Path(f"{self.sock}.ctrl").exists():
                try:
                    return ESAPI(TCTILdr("swtpm", f"path={self.sock}"))
                except TSS2_Exception:
                    if time.monotonic() > deadline:
                        raise
            why = self.err.read_text(errors="replace")
            assert time.monotonic() < deadline, f"the second swtpm did not start: {why}"
            time.sleep(0.05)

    def make_ak(self) -> bytes:
        from tpm2_pytss.constants import ESYS_TR
        from tpm2_pytss.types import TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

        tmpl, _ = TPM2B_PUBLIC.unmarshal(struct.pack(">H", len(AK_TEMPLATE)) + AK_TEMPLATE)
        if self.ak is not None:  # the one an earlier attempt made (a TPM holds three objects at most)
            self.esapi.flush_context(self.ak)
        handle, pub, *_ = self.esapi.create_primary(TPM2B_SENSITIVE_CREATE(), tmpl, ESYS_TR.ENDORSEMENT)
        self.ak = handle
        return bytes(pub.marshal())

    def activate(self, blob: bytes, secret: bytes) -> bytes:
        """What the attacker's TPM makes of a credential for the genuine EK: it cannot open it."""
        from tpm2_pytss.constants import ESYS_TR
        from tpm2_pytss.types import TPM2B_ENCRYPTED_SECRET, TPM2B_ID_OBJECT, TPM2B_SENSITIVE_CREATE
        from tpm2_pytss.utils import create_ek_template

        def no_nv(_i: object) -> bytes:
            from tpm2_pytss.utils import NoSuchIndex

            raise NoSuchIndex(0)

        _, ek_tmpl = create_ek_template("EK-RSA2048", no_nv)
        ek, *_ = self.esapi.create_primary(TPM2B_SENSITIVE_CREATE(), ek_tmpl, ESYS_TR.ENDORSEMENT)
        session = self.esapi.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, 1, *self._sym())
        self.esapi.policy_secret(ESYS_TR.ENDORSEMENT, session, b"", b"", b"", 0)
        assert self.ak is not None, "activate before make_ak"
        cred = self.esapi.activate_credential(self.ak, ek, TPM2B_ID_OBJECT.unmarshal(blob)[0],
                                              TPM2B_ENCRYPTED_SECRET.unmarshal(secret)[0], session2=session)
        return bytes(cred)

    @staticmethod
    def _sym() -> tuple[TPMT_SYM_DEF, int]:
        from tpm2_pytss.constants import TPM2_ALG
        from tpm2_pytss.types import TPMT_SYM_DEF

        return TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256

    def close(self) -> None:
        self.esapi.close()
        self.proc.terminate()
        self.proc.wait()


class ForeignAk:
    """Between the verifier and the genuine agent: offers the other TPM's AK, and answers the
    credential either through the genuine agent or through the other TPM."""

    def __init__(self, link: AgentLink, other: OtherTpm, through_other: bool) -> None:
        self.link, self.other, self.through_other = link, other, through_other
        self.sent: list[str] = []

    def request(self, line: str, keyword: str, fields: int, timeout: float = 120.0) -> list[str]:
        self.sent.append(line.split(" ", 1)[0])
        if line == "AK":
            return [self.other.make_ak().hex()]
        if line.startswith("ACTIVATE ") and self.through_other:
            _, blob, secret = line.split(" ")
            try:
                return [self.other.activate(bytes.fromhex(blob), bytes.fromhex(secret)).hex()]
            except Exception:  # the TPM refuses it: answer something, as a liar would
                return [os.urandom(32).hex()]
        return self.link.request(line, keyword, fields, timeout)


def test_an_ak_from_another_tpm_is_refused(attested) -> None:
    """After the control (the genuine AK enrols), the other TPM's AK is offered twice in the same
    session with the genuine agent: once with the genuine TPM answering the credential (it cannot:
    ACTIVATE fails), once with the other TPM answering it (it cannot open a credential made for
    the genuine EK: the answer is wrong). Neither gets as far as a quote."""
    require_swtpm()
    work = Path(tempfile.mkdtemp(prefix="moat-other-"))
    other = OtherTpm(work, "other")
    try:
        with attested(SCENARIOS / "agent.toml") as (s, session):
            # The control: the genuine AK enrols.
            session.hello()
            session.enrol()
            for through_other in (False, True):
                proxy = ForeignAk(s.link, other, through_other)
                liar = verify.Session(proxy, session.ca_files)  # type: ignore[arg-type]
                with pytest.raises(AttestError, match=r"ACTIVATE failed|credential came back wrong") as err:
                    liar.enrol()
                assert "QUOTE" not in proxy.sent, through_other
                if through_other:
                    assert "the AK is not in the TPM whose EK was certified; refused" in str(err.value)
            session.bye()
    finally:
        other.close()
