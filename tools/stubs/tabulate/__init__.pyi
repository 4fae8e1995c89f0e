# SPDX-License-Identifier: MIT
# The part of tabulate (https://github.com/astanin/python-tabulate) that moat uses: it ships no type
# information. moat/coverage_report.py prints its summary table with it.
from collections.abc import Iterable, Sequence
from typing import Any

def tabulate(tabular_data: Iterable[Sequence[Any]], headers: Sequence[str] = ..., tablefmt: str = ...,
             floatfmt: str = ..., colalign: Sequence[str | None] | None = ..., **kwargs: Any) -> str: ...
