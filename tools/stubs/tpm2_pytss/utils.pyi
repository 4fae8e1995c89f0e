# SPDX-License-Identifier: MIT
from collections.abc import Callable

from tpm2_pytss.types import TPM2B_ENCRYPTED_SECRET, TPM2B_ID_OBJECT, TPM2B_NAME, TPM2B_PUBLIC

class NoSuchIndex(Exception):
    def __init__(self, index: int) -> None: ...

# (the EK certificate, or None, and the EK template) for an EK profile name such as "EK-RSA2048";
# nv_read_cb reads an NV index of the TPM.
def create_ek_template(ektype: str, nv_read_cb: Callable[[int], bytes],
                       ek_template_index: int | None = ...) -> tuple[bytes | None, TPM2B_PUBLIC]: ...
def make_credential(public: TPM2B_PUBLIC, credential: bytes,
                    name: TPM2B_NAME | bytes) -> tuple[TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET]: ...
