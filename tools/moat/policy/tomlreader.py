# SPDX-License-Identifier: MIT
"""Read the TOML form of a policy (docs/policy-language.md) into the model.

The TOML parser (tomli, the standard library's tomllib compiled) gives no positions, so a
locator finds the line of each table, key and string in the source text for ``file:line``
messages. It indexes the text once (every table header, every
``key =`` and every string literal, with their lines), so each lookup is a bisection, not a
scan. The header's xml_policy_hash of a TOML policy is the SHA-1 of the TOML file's bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from typing import Any

try:  # tomli is the standard library's tomllib, compiled (mypyc): 3x faster on large policies
    import tomli as tomllib
except ImportError:  # pragma: no cover - the same parser, interpreted
    import tomllib  # type: ignore[no-redef]

from .model import (
    QUOTA_FIELDS,
    QUOTA_MAX,
    SCHED_FIELDS,
    SCHED_MAX,
    TARGETED,
    ConflictSet,
    Diagnostic,
    Named,
    Permissions,
    Policy,
    PolicyReadError,
    Quota,
    ResourceLabel,
    SchedDefaults,
    Targets,
    VmLabel,
    parse_size_kib,
)

_TOP_KEYS = {"policy", "types", "conflict_set", "vm", "resource"}
_POLICY_KEYS = {"name", "version", "bootstrap", "from"}
_VM_KEYS = {"name", "ste", "chwall", "from", "permissions", "quota", "sched"}
_PERM_KEYS = set(TARGETED) | {"load_policy", "devices"}

_TABLE = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?")
_KEY = re.compile(r"(?:^|[{,])\s*([A-Za-z0-9_-]+)\s*=")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'')

Span = tuple[int, int]  # [first line, end line) of a table


class _Locator:
    """Lines of tables, keys and strings in a TOML text, indexed once (strings when first asked)."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.end = len(self.lines) + 1
        self.tables: list[tuple[int, str]] = []  # (line, header)
        self.keys: dict[str, list[int]] = {}
        self._strings: dict[str, list[int]] | None = None
        tables, keys = self.tables, self.keys
        table, key = _TABLE.match, _KEY.findall
        for i, line in enumerate(self.lines, 1):
            if "=" in line:
                for k in key(line):
                    if k in keys:
                        keys[k].append(i)
                    else:
                        keys[k] = [i]
            elif "[" in line:
                m = table(line)
                if m:
                    tables.append((i, m.group(2)))
        self.by_header: dict[str, list[int]] = {}
        for k, (_, h) in enumerate(self.tables):
            self.by_header.setdefault(h, []).append(k)
        self.headers = {h for _, h in self.tables}

    @property
    def strings(self) -> dict[str, list[int]]:
        if self._strings is None:
            self._strings = {}
            for i, line in enumerate(self.lines, 1):
                if '"' in line or "'" in line:
                    for double, single in _STRING.findall(line):
                        self._strings.setdefault(double or single, []).append(i)
        return self._strings

    def table(self, header: str, n: int = 0) -> Span:
        """(first line, end line) of the n-th table with this header; (1, end) if not found."""
        hits = self.by_header.get(header, [])
        if n >= len(hits):
            return 1, self.end
        k = hits[n]
        start = self.tables[k][0]
        end = self.tables[k + 1][0] if k + 1 < len(self.tables) else self.end
        return start, end

    @staticmethod
    def _first_in(lines: list[int] | None, span: Span) -> int | None:
        if not lines:
            return None
        i = bisect.bisect_left(lines, span[0])
        return lines[i] if i < len(lines) and lines[i] < span[1] else None

    def items(self, values: list[str], keyline: int, span: Span) -> list[Named]:
        """Each string of an array with its line: the key's line when all are on it (the usual case)."""
        text = self.lines[keyline - 1] if 0 < keyline < self.end else ""
        if all(f'"{v}"' in text or f"'{v}'" in text for v in values):
            return [Named(v, keyline) for v in values]
        return [Named(v, self.find(v, (keyline, span[1]))) for v in values]

    def find(self, needle: str, span: Span) -> int:
        """The first line in span with the string literal needle; span's first line if none."""
        line = self._first_in(self.strings.get(needle), span)
        if line is not None:
            return line
        for i in range(span[0], min(span[1], self.end)):  # a string with escapes: look for it
            if f'"{needle}"' in self.lines[i - 1] or f"'{needle}'" in self.lines[i - 1]:
                return i
        return span[0]

    def key(self, key: str, span: Span) -> int:
        """The first line in span that sets key; span's first line if none."""
        line = self._first_in(self.keys.get(key), span)
        return span[0] if line is None else line


def read_toml(data: bytes, file: str) -> Policy:
    try:
        text = data.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise PolicyReadError([Diagnostic(file, data[: e.start].count(b"\n") + 1, "not UTF-8")]) from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise PolicyReadError([Diagnostic(file, int(m.group(1)) if m else 1, f"TOML syntax: {e}")]) from None
    reader = _Reader(Policy(file=file, source_kind="toml", xml_hash=hashlib.sha1(data).digest()), text, doc)
    reader.top_level()
    reader.policy_table()
    reader.types_table()
    for tbl, span in reader.array_of_tables("conflict_set"):
        reader.conflict_set(tbl, span)
    for i, (tbl, span) in enumerate(reader.array_of_tables("vm")):
        reader.vm(tbl, span, i)
    for tbl, span in reader.array_of_tables("resource"):
        reader.resource(tbl, span)
    return reader.p


class _Reader:
    """The tables of a policy, each read into the model by one method."""

    def __init__(self, p: Policy, text: str, doc: dict[str, Any]) -> None:
        self.p = p
        self.doc = doc
        self.loc = _Locator(text)

    def err(self, line: int, msg: str, level: str = "error") -> None:
        self.p.diagnostics.append(Diagnostic(self.p.file, line, msg, level))

    def unknown_keys(self, tbl: dict[str, Any], allowed: set[str], span: Span, where: str) -> None:
        for k in tbl:
            if k not in allowed:
                self.err(self.loc.key(k, span), f"{where}: unknown key {k!r} (known: {', '.join(sorted(allowed))})")

    def strlist(self, v: Any, span: Span, what: str, keyline: int) -> list[Named]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.err(keyline, f"{what} must be a list of strings")
            return []
        return self.loc.items(v, keyline, span)

    def string(self, tbl: dict[str, Any], key: str, span: Span, what: str, required: bool = True) -> str:
        v = tbl.get(key)
        if v is None:
            if required:
                self.err(span[0], f"{what}: missing {key!r}")
            return ""
        if not isinstance(v, str):
            self.err(self.loc.key(key, span), f"{what}: {key!r} must be a string")
            return ""
        return v

    def top_level(self) -> None:
        for k in self.doc:
            if k not in _TOP_KEYS:
                line = self.loc.table(k)[0] if k in self.loc.headers else self.loc.key(k, (1, self.loc.end))
                self.err(line, f"unknown top-level key or table {k!r} (known: {', '.join(sorted(_TOP_KEYS))})")

    def policy_table(self) -> None:
        p, loc = self.p, self.loc
        pol = self.doc.get("policy")
        span = loc.table("policy")
        if not isinstance(pol, dict):
            self.err(1, "missing [policy] table")
            pol = {}
        self.unknown_keys(pol, _POLICY_KEYS, span, "[policy]")
        p.name = self.string(pol, "name", span, "[policy]")
        p.name_line = loc.key("name", span)
        ver = pol.get("version")
        p.version_line = loc.key("version", span)
        if ver is None:
            self.err(span[0], "[policy]: missing 'version'")
            p.has_version = False
        elif not isinstance(ver, str):
            self.err(p.version_line, "[policy]: 'version' must be a string such as \"1.0\"")
            p.has_version = False
        else:
            p.version = ver
        p.bootstrap = self.string(pol, "bootstrap", span, "[policy]")
        p.bootstrap_line = loc.key("bootstrap", span)
        frm = pol.get("from")
        if frm is None:
            return
        fspan = loc.table("policy.from")
        if fspan[0] == 1:
            fspan = span
        p.from_line = loc.key("from", span) if fspan == span else fspan[0]
        if not isinstance(frm, dict):
            self.err(p.from_line, "[policy]: 'from' must be a table with 'name' and 'version'")
            return
        p.from_policy = (self.string(frm, "name", fspan, "[policy.from]"),
                         self.string(frm, "version", fspan, "[policy.from]"))

    def types_table(self) -> None:
        types = self.doc.get("types", {})
        span = self.loc.table("types")
        if not isinstance(types, dict):
            self.err(span[0], "[types] must be a table")
            types = {}
        self.unknown_keys(types, {"ste", "chwall"}, span, "[types]")
        self.p.ste_types = self.strlist(types.get("ste", []), span, "[types] ste", self.loc.key("ste", span))
        self.p.chwall_types = self.strlist(types.get("chwall", []), span, "[types] chwall",
                                           self.loc.key("chwall", span))

    def array_of_tables(self, key: str) -> list[tuple[dict[str, Any], Span]]:
        v = self.doc.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            self.err(self.loc.table(key)[0], f"{key!r} must be an array of tables [[{key}]]")
            return []
        return [(x, self.loc.table(key, i)) for i, x in enumerate(v)]

    def conflict_set(self, tbl: dict[str, Any], span: Span) -> None:
        self.unknown_keys(tbl, {"name", "types"}, span, "[[conflict_set]]")
        c = ConflictSet(self.string(tbl, "name", span, "[[conflict_set]]"), span[0])
        c.types = self.strlist(tbl.get("types", []), span, "[[conflict_set]] types", self.loc.key("types", span))
        self.p.conflict_sets.append(c)

    def vm(self, tbl: dict[str, Any], span: Span, index: int) -> None:
        loc = self.loc
        self.unknown_keys(tbl, _VM_KEYS, span, "[[vm]]")
        name = self.string(tbl, "name", span, "[[vm]]")
        v = VmLabel(name, loc.key("name", span))
        v.ste = self.strlist(tbl.get("ste", []), span, "[[vm]] ste", loc.key("ste", span))
        v.chwall = self.strlist(tbl.get("chwall", []), span, "[[vm]] chwall", loc.key("chwall", span))
        if "from" in tbl:
            v.from_name = self.string(tbl, "from", span, "[[vm]]")
        if "permissions" in tbl:
            line = loc.key("permissions", span)
            if line == span[0]:
                line = loc.table("vm.permissions", index)[0]
            v.permissions = self.permissions(tbl["permissions"], name, line, span)
        if "quota" in tbl:
            line = loc.key("quota", span)
            if line == span[0]:
                line = loc.table("vm.quota", index)[0]
            v.quota = self.quota(tbl["quota"], name, line)
        if "sched" in tbl:
            line = loc.key("sched", span)
            if line == span[0]:
                line = loc.table("vm.sched", index)[0]
            v.sched = self.sched(tbl["sched"], name, line)
        self.p.vm_labels.append(v)

    def sched(self, t: Any, name: str, line: int) -> SchedDefaults | None:
        """[[vm]] sched = { weight = 512, cap = 20 }: what a domain of the label gets unless its
        creator (the scenario, or domctl create) gives its own."""
        if not isinstance(t, dict):
            self.err(line, f"label {name!r}: sched must be a table such as {{ weight = 512, cap = 20 }}")
            return None
        out = SchedDefaults(line)
        for k, val in t.items():
            if k not in SCHED_FIELDS:
                self.err(line, f"label {name!r}: unknown sched key {k!r} (known: {', '.join(SCHED_FIELDS)})")
            elif isinstance(val, bool) or not isinstance(val, int) or not 1 <= val <= SCHED_MAX[k]:
                what = "percent of one CPU" if k == "cap" else "(256 is the scheduler's default)"
                self.err(line, f"label {name!r}: sched.{k} must be a whole number from 1 to {SCHED_MAX[k]} "
                               f"{what}, not {val!r}")
            else:
                setattr(out, k, val)
        if not t:
            self.err(line, f"label {name!r}: sched sets nothing (give weight, cap or both)")
        return out

    def quota(self, q: Any, name: str, line: int) -> Quota | None:
        """[[vm]] quota = { memory = "64M", domains = 4, ports = 256, grant_frames = 8, maptrack = 1024 }."""
        if not isinstance(q, dict):
            self.err(line, f"label {name!r}: quota must be a table")
            return None
        out = Quota(line)
        for k, val in q.items():
            if k not in QUOTA_FIELDS:
                self.err(line, f"label {name!r}: unknown quota {k!r} (known: {', '.join(QUOTA_FIELDS)})")
            elif k == "memory":
                kib = parse_size_kib(val) if isinstance(val, str) else None
                if kib is None or kib > QUOTA_MAX:
                    self.err(line, f"label {name!r}: quota.memory must be a size such as \"64M\" (K, M or G), "
                                   f"at most {QUOTA_MAX} KiB")
                else:
                    out.memory = kib
            elif isinstance(val, bool) or not isinstance(val, int) or not 0 <= val <= QUOTA_MAX:
                self.err(line, f"label {name!r}: quota.{k} must be a whole number from 0 to {QUOTA_MAX}")
            else:
                setattr(out, k, val)
        return out

    def permissions(self, perm: Any, name: str, line: int, span: Span) -> Permissions | None:
        if not isinstance(perm, dict):
            self.err(line, "[[vm]] permissions must be a table")
            return None
        pm = Permissions(line)
        for k, val in perm.items():
            if k not in _PERM_KEYS:
                self.err(line, f"label {name!r}: unknown permission {k!r} (known: {', '.join(sorted(_PERM_KEYS))})")
            elif k == "load_policy":
                if not isinstance(val, bool):
                    self.err(line, f"label {name!r}: permission 'load_policy' must be true or false")
                else:
                    pm.load_policy = val
            elif k == "devices":
                pm.devices = self.strlist(val, (line, span[1]), "permissions.devices", line)
            elif isinstance(val, bool) and k != "create":
                # true: over domains of every label; false: not at all
                setattr(pm, k, Targets(line, everyone=True) if val else None)
            else:
                what = "a list of labels" if k == "create" else "true, false or a list of labels"
                if not isinstance(val, (list, str)):
                    self.err(line, f"label {name!r}: permission {k!r} must be {what}")
                    continue
                labels = self.strlist(val, (line, span[1]), f"permissions.{k}", line)
                if not labels:
                    self.err(line, f"label {name!r}: permissions.{k} lists no label")
                setattr(pm, k, Targets(line, labels=labels))
        return pm

    def resource(self, tbl: dict[str, Any], span: Span) -> None:
        self.unknown_keys(tbl, {"name", "ste"}, span, "[[resource]]")
        r = ResourceLabel(self.string(tbl, "name", span, "[[resource]]"), self.loc.key("name", span))
        r.ste = self.strlist(tbl.get("ste", []), span, "[[resource]] ste", self.loc.key("ste", span))
        self.p.resource_labels.append(r)
