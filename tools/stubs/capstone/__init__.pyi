# SPDX-License-Identifier: MIT
# The part of capstone's Python binding (https://www.capstone-engine.org) that moat uses: it ships no
# type information. moat/coverage_map.py decodes the hypervisor's code with it.
from collections.abc import Iterator

CS_ARCH_X86: int
CS_MODE_32: int
CS_MODE_64: int

class CsInsn:
    address: int
    size: int
    mnemonic: str
    op_str: str

class Cs:
    def __init__(self, arch: int, mode: int) -> None: ...
    def disasm(self, code: bytes, offset: int, count: int = 0) -> Iterator[CsInsn]: ...
    # (address, size, mnemonic, op_str) per instruction, without a CsInsn object each.
    def disasm_lite(self, code: bytes, offset: int, count: int = 0) -> Iterator[tuple[int, int, str, str]]: ...
