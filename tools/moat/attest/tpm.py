# SPDX-License-Identifier: MIT
"""TPM 2.0 structures and the verifier's checks on them.

Structures are unmarshalled by tpm2-pytss (the TSS's own marshalling code); signatures and
certificates are checked with `cryptography`. Nothing here trusts the agent: every structure is
parsed strictly (trailing bytes refused), and every failure is an AttestError saying what failed.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from tpm2_pytss.constants import TPM2_ALG, TPM2_GENERATED, TPM2_ST, TPMA_OBJECT
from tpm2_pytss.types import TPM2B_ATTEST, TPM2B_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE
from tpm2_pytss.utils import NoSuchIndex, create_ek_template, make_credential

from moat.attest import AttestError

AK_REQUIRED = (TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN
               | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.SIGN_ENCRYPT)
EK_TYPE = "EK-RSA2048"


_T = TypeVar("_T", TPM2B_ATTEST, TPM2B_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE)


def _unmarshal(cls: type[_T], data: bytes, what: str) -> _T:
    try:
        obj, used = cls.unmarshal(data)
    except Exception as e:  # the TSS raises its own errors for every kind of malformed input
        raise AttestError(f"{what}: not a valid {cls.__name__} ({e})") from None
    if used != len(data):
        raise AttestError(f"{what}: {len(data) - used} bytes after the {cls.__name__}")
    return obj


def public_key(pub: TPM2B_PUBLIC, what: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    try:
        key = load_pem_public_key(pub.publicArea.to_pem())
    except Exception as e:
        raise AttestError(f"{what}: its public area is not a usable key ({e})") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise AttestError(f"{what}: neither an RSA nor an EC key")
    return key


def name_of(pub: TPM2B_PUBLIC) -> bytes:
    """The TPM name of a key: nameAlg || H(TPMT_PUBLIC), as the TPM computes it."""
    return bytes(pub.publicArea.get_name().marshal()[2:])


@dataclass
class Endorsement:
    ek_public: TPM2B_PUBLIC
    ek_cert: x509.Certificate
    issuer_chain: list[str]


def _no_nv(_index: object) -> bytes:
    raise NoSuchIndex(0)


def check_ek(ek_pub_bytes: bytes, cert_der: bytes, ca_files: list[Path]) -> Endorsement:
    """The EK certificate chains to the trusted CA, and certifies exactly the EK the agent created
    from the standard template (TCG EK Credential Profile, RSA 2048)."""
    ek = _unmarshal(TPM2B_PUBLIC, ek_pub_bytes, "EK public area")
    _, template = create_ek_template(EK_TYPE, _no_nv)
    got, want = ek.publicArea, template.publicArea
    if (got.type != want.type or got.nameAlg != want.nameAlg or got.objectAttributes != want.objectAttributes
            or bytes(got.authPolicy) != bytes(want.authPolicy)
            or got.parameters.rsaDetail.keyBits != want.parameters.rsaDetail.keyBits):
        raise AttestError("EK: the agent's EK was not made from the standard EK template "
                          "(RSA 2048, restricted decryption, PolicySecret(endorsement))")
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError as e:
        raise AttestError(f"EK certificate: not a DER X.509 certificate ({e})") from None
    ek_key = public_key(ek, "EK")
    if cert.public_key().public_numbers() != ek_key.public_numbers():  # type: ignore[union-attr]
        raise AttestError("EK certificate: it certifies another key than the agent's EK")
    chain = _verify_chain(cert, ca_files)
    return Endorsement(ek, cert, chain)


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as e:
        raise AttestError(f"trusted CA {path}: cannot read it ({e})") from None


def _verify_chain(cert: x509.Certificate, ca_files: list[Path]) -> list[str]:
    """Walk issuer links up to a self-signed certificate among the trusted files; every signature,
    issuer name and validity period checked."""
    pool = [c for f in ca_files for c in _load_certs(f)]
    if not pool:
        raise AttestError("no trusted CA certificate to check the EK certificate against")
    now = datetime.datetime.now(datetime.UTC)
    chain = [cert.subject.rfc4514_string() or "(EK)"]
    cur = cert
    for _ in range(8):
        if not cur.not_valid_before_utc <= now <= cur.not_valid_after_utc:
            raise AttestError(f"EK certificate chain: {cur.subject.rfc4514_string()} is not valid now")
        issuer = next((c for c in pool if c.subject == cur.issuer), None)
        if issuer is None:
            raise AttestError(f"EK certificate chain: issuer {cur.issuer.rfc4514_string()} is not a trusted CA")
        try:
            cur.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as e:
            raise AttestError(f"EK certificate chain: {cur.subject.rfc4514_string() or 'the EK certificate'} "
                              f"is not signed by {issuer.subject.rfc4514_string()} ({e or 'bad signature'})") from None
        chain.append(issuer.subject.rfc4514_string())
        if issuer.subject == issuer.issuer:
            issuer.verify_directly_issued_by(issuer)
            return chain
        cur = issuer
    raise AttestError("EK certificate chain: longer than 8 certificates")


@dataclass
class Credential:
    """A challenge for ActivateCredential: only the TPM holding the EK can open it, and only for a
    key with exactly this name loaded in it."""

    secret: bytes
    blob: bytes      # TPM2B_ID_OBJECT
    encrypted: bytes  # TPM2B_ENCRYPTED_SECRET


def check_ak(ak_pub_bytes: bytes) -> TPM2B_PUBLIC:
    ak = _unmarshal(TPM2B_PUBLIC, ak_pub_bytes, "AK public area")
    attrs = ak.publicArea.objectAttributes
    if (attrs & AK_REQUIRED) != AK_REQUIRED or attrs & TPMA_OBJECT.DECRYPT:
        raise AttestError("AK: not a restricted signing key fixed to its TPM (attributes "
                          f"{int(attrs):#010x}); it could sign data that did not come from the TPM")
    if ak.publicArea.nameAlg != TPM2_ALG.SHA256:
        raise AttestError("AK: its name algorithm is not SHA-256")
    public_key(ak, "AK")
    return ak


def make_challenge(ek: TPM2B_PUBLIC, ak: TPM2B_PUBLIC) -> Credential:
    """MakeCredential for the AK's name, encrypted to the EK (the verifier computes the name itself
    from the AK public area: a name the agent sends is never trusted)."""
    secret = secrets.token_bytes(32)
    try:
        blob, enc = make_credential(ek, secret, ak.publicArea.get_name())
    except Exception as e:
        raise AttestError(f"MakeCredential failed: {e}") from None
    return Credential(secret, bytes(blob.marshal()), bytes(enc.marshal()))


@dataclass
class Quote:
    attest: bytes           # TPMS_ATTEST as signed
    nonce: bytes
    pcrs: dict[int, bytes]  # index -> SHA-256 value (checked against the quote's digest)
    clock: int
    reset_count: int


def check_quote(ak: TPM2B_PUBLIC, attest2b: bytes, sig_bytes: bytes, pcr_bytes: bytes, nonce: bytes,
                pcr_list: tuple[int, ...]) -> Quote:
    """The quote was signed by the AK, is a quote the TPM made (TPM_GENERATED), answers our nonce,
    covers the PCRs we asked for in the SHA-256 bank, and the PCR values the agent sent are the
    ones it covers."""
    a2b = _unmarshal(TPM2B_ATTEST, attest2b, "quote")
    attest_bytes = bytes(a2b.attestationData)
    sig = _unmarshal(TPMT_SIGNATURE, sig_bytes, "quote signature")
    key = public_key(ak, "AK")
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if sig.sigAlg != TPM2_ALG.ECDSA or sig.signature.ecdsa.hash != TPM2_ALG.SHA256:
                raise AttestError("quote signature: not ECDSA with SHA-256")
            der = encode_dss_signature(int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big"),
                                       int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big"))
            key.verify(der, attest_bytes, ec.ECDSA(hashes.SHA256()))
        else:
            if sig.sigAlg != TPM2_ALG.RSASSA or sig.signature.rsassa.hash != TPM2_ALG.SHA256:
                raise AttestError("quote signature: not RSASSA with SHA-256")
            from cryptography.hazmat.primitives.asymmetric import padding

            key.verify(bytes(sig.signature.rsassa.sig), attest_bytes, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise AttestError("quote signature: does not verify with the enrolled AK") from None
    att = _unmarshal(TPMS_ATTEST, attest_bytes, "quote")
    if att.magic != TPM2_GENERATED.VALUE or att.type != TPM2_ST.ATTEST_QUOTE:
        raise AttestError("quote: not a TPM-generated quote structure")
    if bytes(att.extraData) != nonce:
        raise AttestError(f"quote: its nonce {bytes(att.extraData).hex()[:16]}... is not the nonce we sent "
                          f"({nonce.hex()[:16]}...): a replayed or stale quote")
    sel = att.attested.quote.pcrSelect
    selected: list[int] = []
    for i in range(sel.count):
        s = sel.pcrSelections[i]
        if s.hash != TPM2_ALG.SHA256:
            raise AttestError("quote: it covers a bank other than SHA-256")
        bits = bytes(s.pcrSelect)[: s.sizeofSelect]
        selected += [8 * j + b for j, byte in enumerate(bits) for b in range(8) if byte >> b & 1]
    if sorted(selected) != sorted(pcr_list):
        raise AttestError(f"quote: it covers PCRs {sorted(selected)}, not the {sorted(pcr_list)} we asked for")
    if len(pcr_bytes) != 32 * len(pcr_list):
        raise AttestError(f"quote: {len(pcr_bytes)} bytes of PCR values for {len(pcr_list)} PCRs")
    values = {p: pcr_bytes[32 * i:32 * i + 32] for i, p in enumerate(sorted(pcr_list))}
    if hashlib.sha256(pcr_bytes).digest() != bytes(att.attested.quote.pcrDigest):
        raise AttestError("quote: the PCR values the agent sent are not the ones the TPM quoted")
    return Quote(attest_bytes, nonce, values, int(att.clockInfo.clock), int(att.clockInfo.resetCount))
