# SPDX-License-Identifier: MIT
from typing import Any

class Segment:
    # The program header's fields by name (p_type, p_offset, p_vaddr, p_filesz, p_flags, ...).
    def __getitem__(self, name: str) -> Any: ...
    def data(self) -> bytes: ...
