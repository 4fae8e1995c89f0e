# SPDX-License-Identifier: MIT
# TPM constants: integers grouped in classes, as the TSS names them.

class TPM_INT(int): ...

class TPM2_ALG(TPM_INT):
    NULL: int
    SHA256: int
    RSASSA: int
    ECDSA: int

class TPM2_GENERATED(TPM_INT):
    VALUE: int

class TPM2_ST(TPM_INT):
    ATTEST_QUOTE: int

class TPMA_OBJECT(TPM_INT):
    FIXEDTPM: int
    FIXEDPARENT: int
    SENSITIVEDATAORIGIN: int
    RESTRICTED: int
    SIGN_ENCRYPT: int
    DECRYPT: int

class ESYS_TR(TPM_INT):
    NONE: int
    ENDORSEMENT: int
