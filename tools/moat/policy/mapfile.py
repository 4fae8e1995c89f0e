# SPDX-License-Identifier: MIT
"""The ``.map`` file: label -> ssidref and type -> column, in the style of Xen's .map.

Xen 4.1 wrote this next to the .bin; names are not in the binary, so
``dump``, ``query`` and ``labels`` read it back (``--map``) to name rows and
columns.  Format in docs/policy-format.md ("The map file").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .binary import ACM_MAGIC
from .model import UNLABELED, Numbering, Policy


def _n(name: str) -> str:
    """Plain names as they are; names with whitespace, quotes or control characters as a JSON string."""
    if name and name.isprintable() and not any(c.isspace() or c == '"' for c in name):
        return name
    return json.dumps(name)


def _unn(text: str) -> str:
    text = text.rstrip()
    if text.startswith('"'):
        return str(json.loads(text))
    return text


def write_map(p: Policy, num: Numbering, policy_file: str, binary_file: str) -> str:
    o = [
        f"POLICYREFERENCENAME    {_n(p.name)}",
        f"MAGIC                  {ACM_MAGIC:08x}",
        f"POLICFILE              {policy_file}",
        f"BINARYFILE             {binary_file}",
        f"MAX-CHWALL-TYPES       {len(num.chwall_types):08x}",
        f"MAX-CHWALL-SSIDS       {num.chwall_ssidrefs:08x}",
        f"MAX-CHWALL-LABELS      {num.chwall_ssidrefs:08x}",
        f"MAX-STE-TYPES          {len(num.ste_types):08x}",
        f"MAX-STE-SSIDS          {num.ste_ssidrefs:08x}",
        f"MAX-STE-LABELS         {num.ste_ssidrefs:08x}",
        "",
        "PRIMARY                " + ("CHWALL" if num.chwall_types else "STE" if num.ste_types else "NULL"),
        "SECONDARY              " + ("STE" if num.chwall_types else "NULL"),
        "",
    ]
    any_name = UNLABELED if num.vm_by_row[0] is not None else "__NULL_LABEL__"
    o.append(f"LABEL->SSID ANY CHWALL {_n(any_name):<20} {0:x}")
    for i, n in enumerate(num.vm_rows[1:], 1):
        o.append(f"LABEL->SSID VM  CHWALL {_n(n):<20} {i:x}")
    o.append(f"LABEL->SSID ANY STE    {_n(any_name):<20} {0:08x}")
    for i, n in enumerate(num.vm_rows[1:], 1):
        o.append(f"LABEL->SSID VM  STE    {_n(n):<20} {i:x}")
    base = len(num.vm_rows)
    for i, n in enumerate(num.res_rows):
        o.append(f"LABEL->SSID RES STE    {_n(n):<20} {base + i:x}")
    o.append("")
    for i, v in enumerate(num.vm_by_row):
        types = "" if (i == 0 or v is None) else ",".join(_n(t) for t in sorted({t.name for t in v.chwall}))
        o.append(f"SSID->TYPE CHWALL      {i:08x} {types}".rstrip())
    for i, v in enumerate(num.vm_by_row):
        types = "" if (i == 0 or v is None) else ",".join(_n(t) for t in sorted({t.name for t in v.ste}))
        o.append(f"SSID->TYPE STE         {i:08x} {types}".rstrip())
    for i, r in enumerate(num.res_by_row):
        o.append(f"SSID->TYPE STE         {base + i:08x} {','.join(sorted({t.name for t in r.ste or []}))}".rstrip())
    o.append("")
    for i, t in enumerate(num.chwall_types):
        o.append(f"TYPE CHWALL            {_n(t):<20} {i}")
    for i, t in enumerate(num.ste_types):
        o.append(f"TYPE STE               {_n(t):<20} {i}")
    o.append("")
    return "\n".join(o) + "\n"


@dataclass
class MapInfo:
    name: str = ""
    vm_rows: dict[int, str] = field(default_factory=dict)  # CHWALL/STE VM row -> label
    res_rows: dict[int, str] = field(default_factory=dict)  # STE row -> resource label
    chwall_types: dict[int, str] = field(default_factory=dict)
    ste_types: dict[int, str] = field(default_factory=dict)


class MapError(Exception):
    pass


def read_map(text: str, file: str = "map") -> MapInfo:
    m = MapInfo()
    for ln, line in enumerate(text.split("\n"), 1):
        try:
            if line.startswith("POLICYREFERENCENAME"):
                m.name = _unn(line[23:])
            elif line.startswith("LABEL->SSID "):
                kind = line[12:16].strip()
                name, num = line[23:].rstrip().rsplit(None, 1)
                row = int(num, 16)
                if kind == "VM":
                    m.vm_rows[row] = _unn(name)
                elif kind == "RES":
                    m.res_rows[row] = _unn(name)
                elif kind == "ANY" and name.strip() == UNLABELED:
                    m.vm_rows[0] = UNLABELED
            elif line.startswith("TYPE "):
                kind = line[5:].split()[0]
                name, num = line[23:].rstrip().rsplit(None, 1)
                (m.chwall_types if kind == "CHWALL" else m.ste_types)[int(num)] = _unn(name)
        except ValueError:
            raise MapError(f"{file}:{ln}: cannot parse map line {line!r}") from None
    return m
