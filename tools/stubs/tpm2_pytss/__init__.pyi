# SPDX-License-Identifier: MIT
# The part of tpm2-pytss (https://tpm2-pytss.readthedocs.io) that moat and its tests use. TPM
# structures are typed by name; their fields (a TPM structure's members, nested) are read
# dynamically, as the library builds them from the TSS's C headers.
from tpm2_pytss.types import (
    TPM2B_ENCRYPTED_SECRET,
    TPM2B_ID_OBJECT,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPMT_SYM_DEF,
)

class TCTILdr:
    def __init__(self, name: str | None = None, conf: str | None = None) -> None: ...

class ESAPI:
    def __init__(self, tcti: TCTILdr | str | None = None) -> None: ...
    # (handle, public area, creation data, creation hash, creation ticket)
    def create_primary(self, in_sensitive: TPM2B_SENSITIVE_CREATE | None, in_public: TPM2B_PUBLIC | str,
                       primary_handle: int = ...) -> tuple[int, TPM2B_PUBLIC, object, object, object]: ...
    def start_auth_session(self, tpm_key: int, bind: int, session_type: int, symmetric: TPMT_SYM_DEF,
                           auth_hash: int) -> int: ...
    def policy_secret(self, auth_handle: int, policy_session: int, nonce_tpm: bytes, cp_hash_a: bytes,
                      policy_ref: bytes, expiration: int) -> tuple[object, object]: ...
    def activate_credential(self, activate_handle: int, key_handle: int, credential_blob: TPM2B_ID_OBJECT,
                            secret: TPM2B_ENCRYPTED_SECRET, session1: int = ..., session2: int = ...) -> bytes: ...
    def flush_context(self, flush_handle: int) -> None: ...
    def close(self) -> None: ...

class TSS2_Exception(RuntimeError): ...
