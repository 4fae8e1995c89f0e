# SPDX-License-Identifier: MIT
class P_FLAGS:
    PF_X: int
    PF_W: int
    PF_R: int

class SH_FLAGS:
    SHF_WRITE: int
    SHF_ALLOC: int
    SHF_EXECINSTR: int
