# SPDX-License-Identifier: MIT
from collections.abc import Iterator
from typing import Any

class Section:
    name: str
    # The section header's fields by name (sh_type, sh_flags, sh_addr, sh_size, ...).
    def __getitem__(self, name: str) -> Any: ...
    def data(self) -> bytes: ...

class Symbol:
    name: str
    # The symbol's fields by name (st_value, st_size, st_info, st_shndx, ...).
    def __getitem__(self, name: str) -> Any: ...

class SymbolTableSection(Section):
    def num_symbols(self) -> int: ...
    def iter_symbols(self) -> Iterator[Symbol]: ...
