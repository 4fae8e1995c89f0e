# SPDX-License-Identifier: MIT
"""Read the TOML form of a policy (docs/policy-language.md) into the model.

``tomllib`` gives no positions, so a small locator finds the line of each
table and value in the source text for ``file:line`` messages.  The header's
xml_policy_hash of a TOML policy is the SHA-1 of the TOML file's bytes.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from typing import Any

from .model import TARGETED, ConflictSet, Diagnostic, Named, Permissions, Policy, ResourceLabel, Targets, VmLabel
from .xmlreader import PolicyReadError

_TOP_KEYS = {"policy", "types", "conflict_set", "vm", "resource"}
_POLICY_KEYS = {"name", "version", "bootstrap", "from"}
_VM_KEYS = {"name", "ste", "chwall", "from", "permissions"}
_PERM_KEYS = set(TARGETED) | {"load_policy"}


class _Locator:
    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.tables: list[tuple[int, str]] = []  # (line, header)
        for i, line in enumerate(self.lines, 1):
            m = re.match(r"\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?", line)
            if m:
                self.tables.append((i, m.group(2)))
        self.by_header: dict[str, list[int]] = {}
        for k, (_, h) in enumerate(self.tables):
            self.by_header.setdefault(h, []).append(k)

    def table(self, header: str, n: int = 0) -> tuple[int, int]:
        """(first line, end line) of the n-th table with this header; (1, len) if not found."""
        hits = self.by_header.get(header, [])
        if n >= len(hits):
            return 1, len(self.lines) + 1
        k = hits[n]
        start = self.tables[k][0]
        end = self.tables[k + 1][0] if k + 1 < len(self.tables) else len(self.lines) + 1
        return start, end

    def find(self, needle: str, span: tuple[int, int], quoted: bool = True) -> int:
        start, end = span
        pats = [f'"{needle}"', f"'{needle}'"] if quoted else [needle]
        for i in range(start, min(end, len(self.lines) + 1)):
            line = self.lines[i - 1]
            if any(p in line for p in pats):
                return i
        return start

    def key(self, key: str, span: tuple[int, int]) -> int:
        start, end = span
        for i in range(start, min(end, len(self.lines) + 1)):
            line = self.lines[i - 1]
            if re.match(rf"\s*{re.escape(key)}\s*=", line) or re.search(rf"[{{,]\s*{re.escape(key)}\s*=", line):
                return i
        return start


def read_toml(data: bytes, file: str) -> Policy:
    p = Policy(file=file, source_kind="toml")
    diags = p.diagnostics

    def err(line: int, msg: str, level: str = "error") -> None:
        diags.append(Diagnostic(file, line, msg, level))

    try:
        text = data.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise PolicyReadError([Diagnostic(file, data[: e.start].count(b"\n") + 1, "not UTF-8")]) from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise PolicyReadError([Diagnostic(file, int(m.group(1)) if m else 1, f"TOML syntax: {e}")]) from None
    p.xml_hash = hashlib.sha1(data).digest()
    loc = _Locator(text)

    for k in doc:
        if k not in _TOP_KEYS:
            err(
                loc.key(k, (1, len(loc.lines) + 1)) if k not in dict(loc.tables).values() else loc.table(k)[0],
                f"unknown top-level key or table {k!r}",
            )

    def strlist(v: Any, span: tuple[int, int], what: str, keyline: int) -> list[Named]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            err(keyline, f"{what} must be a list of strings")
            return []
        return [Named(x, loc.find(x, (keyline, span[1]))) for x in v]

    def string(tbl: dict[str, Any], key: str, span: tuple[int, int], what: str, required: bool = True) -> str:
        v = tbl.get(key)
        if v is None:
            if required:
                err(span[0], f"{what}: missing {key!r}")
            return ""
        if not isinstance(v, str):
            err(loc.key(key, span), f"{what}: {key!r} must be a string")
            return ""
        return v

    # [policy]
    pol = doc.get("policy")
    span = loc.table("policy")
    if not isinstance(pol, dict):
        err(1, "missing [policy] table")
        pol = {}
    for k in pol:
        if k not in _POLICY_KEYS:
            err(loc.key(k, span), f"[policy]: unknown key {k!r}")
    p.name = string(pol, "name", span, "[policy]")
    p.name_line = loc.key("name", span)
    ver = pol.get("version")
    p.version_line = loc.key("version", span)
    if ver is None:
        err(span[0], "[policy]: missing 'version'")
        p.has_version = False
    elif not isinstance(ver, str):
        err(p.version_line, "[policy]: 'version' must be a string such as \"1.0\"")
        p.has_version = False
    else:
        p.version = ver
    p.bootstrap = string(pol, "bootstrap", span, "[policy]")
    p.bootstrap_line = loc.key("bootstrap", span)
    frm = pol.get("from")
    if frm is not None:
        fspan = loc.table("policy.from")
        if fspan[0] == 1:
            fspan = span
        p.from_line = loc.key("from", span) if fspan == span else fspan[0]
        if not isinstance(frm, dict):
            err(p.from_line, "[policy]: 'from' must be a table with 'name' and 'version'")
        else:
            p.from_policy = (
                string(frm, "name", fspan, "[policy.from]"),
                string(frm, "version", fspan, "[policy.from]"),
            )

    # [types]
    types = doc.get("types", {})
    tspan = loc.table("types")
    if not isinstance(types, dict):
        err(tspan[0], "[types] must be a table")
        types = {}
    for k in types:
        if k not in ("ste", "chwall"):
            err(loc.key(k, tspan), f"[types]: unknown key {k!r}")
    p.ste_types = strlist(types.get("ste", []), tspan, "[types] ste", loc.key("ste", tspan))
    p.chwall_types = strlist(types.get("chwall", []), tspan, "[types] chwall", loc.key("chwall", tspan))

    def array_of_tables(key: str) -> list[tuple[dict[str, Any], tuple[int, int]]]:
        v = doc.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            err(loc.table(key)[0], f"{key!r} must be an array of tables [[{key}]]")
            return []
        return [(x, loc.table(key, i)) for i, x in enumerate(v)]

    for tbl, sp in array_of_tables("conflict_set"):
        for k in tbl:
            if k not in ("name", "types"):
                err(loc.key(k, sp), f"[[conflict_set]]: unknown key {k!r}")
        c = ConflictSet(string(tbl, "name", sp, "[[conflict_set]]"), sp[0])
        c.types = strlist(tbl.get("types", []), sp, "[[conflict_set]] types", loc.key("types", sp))
        p.conflict_sets.append(c)

    for tbl, sp in array_of_tables("vm"):
        for k in tbl:
            if k not in _VM_KEYS:
                err(loc.key(k, sp), f"[[vm]]: unknown key {k!r}")
        name = string(tbl, "name", sp, "[[vm]]")
        v = VmLabel(name, loc.key("name", sp))
        v.ste = strlist(tbl.get("ste", []), sp, "[[vm]] ste", loc.key("ste", sp))
        v.chwall = strlist(tbl.get("chwall", []), sp, "[[vm]] chwall", loc.key("chwall", sp))
        if "from" in tbl:
            v.from_name = string(tbl, "from", sp, "[[vm]]")
        if "permissions" in tbl:
            perm = tbl["permissions"]
            pl = loc.key("permissions", sp)
            if pl == sp[0]:
                pl = loc.table("vm.permissions", sum(1 for _ in p.vm_labels))[0]
            if not isinstance(perm, dict):
                err(pl, "[[vm]] permissions must be a table")
            else:
                pm = Permissions(pl)
                for k, val in perm.items():
                    if k not in _PERM_KEYS:
                        err(pl, f"label {name!r}: unknown permission {k!r}")
                    elif k == "load_policy":
                        if not isinstance(val, bool):
                            err(pl, f"label {name!r}: permission 'load_policy' must be true or false")
                        else:
                            pm.load_policy = val
                    elif isinstance(val, bool) and k != "create":
                        # true: over domains of every label; false: not at all
                        setattr(pm, k, Targets(pl, everyone=True) if val else None)
                    else:
                        what = "a list of labels" if k == "create" else "true, false or a list of labels"
                        if not isinstance(val, (list, str)):
                            err(pl, f"label {name!r}: permission {k!r} must be {what}")
                            continue
                        labels = strlist(val, (pl, sp[1]), f"permissions.{k}", pl)
                        if not labels:
                            err(pl, f"label {name!r}: permissions.{k} lists no label")
                        setattr(pm, k, Targets(pl, labels=labels))
                v.permissions = pm
        p.vm_labels.append(v)

    for tbl, sp in array_of_tables("resource"):
        for k in tbl:
            if k not in ("name", "ste"):
                err(loc.key(k, sp), f"[[resource]]: unknown key {k!r}")
        r = ResourceLabel(string(tbl, "name", sp, "[[resource]]"), loc.key("name", sp))
        r.ste = strlist(tbl.get("ste", []), sp, "[[resource]] ste", loc.key("ste", sp))
        p.resource_labels.append(r)
    return p
