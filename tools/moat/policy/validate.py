# SPDX-License-Identifier: MIT
"""Every check ``moat policy check`` makes.  All findings are collected, none stops the others.

Levels: 'error' — Xen 4.1's compiler refuses it too, or it cannot be encoded;
'strict' — Xen 4.1 accepted it but it is wrong (we refuse it unless
``--xen-compat``); 'warning' — suspicious but harmless.

Messages speak the policy's own language: XML element names for an XML policy, TOML tables
and keys for a TOML one; a name that is not found gets the closest known one as a hint.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable

from moat.devices import DEVICES

from .model import (
    MAX_CONFLICT_SETS,
    MAX_NAME_LEN,
    MAX_POLICY_SIZE,
    MAX_SSIDREFS,
    MAX_TYPES,
    QUOTA_MAX_ROWS,
    TARGETED,
    UNLABELED,
    Diagnostic,
    Named,
    Policy,
    numbering,
    parse_version,
)

_INT31 = 2**31
_VERSION_TEXT = re.compile(r"[0-9]{1,8}(\.[0-9]{1,8})?")

# How each source format spells the parts the messages name.
_WORDS = {
    "xml": {
        "from": "FromPolicy",
        "bootstrap": "SubjectLabels bootstrap=...",
        "chwall": "at least one ChineseWallTypes type",
    },
    "toml": {
        "from": "[policy] from = { name = ..., version = ... }",
        "bootstrap": "[policy] bootstrap = ...",
        "chwall": "at least one type in [types] chwall",
    },
}


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


# How the messages say what each targeted permission does to its labels.
_VERBS = {
    "create": "create",
    "destroy": "destroy",
    "pause": "pause",
    "read_state": "read the state of",
    "foreign_evtchn": "control the event channels of",
    "foreign_gnttab": "set up the grant table of",
}


def _name_problems(name: str) -> str | None:
    if ":" in name:
        return "contains ':'"
    if not name.isprintable() or not name.isascii():
        return "contains a non-printable or non-ASCII character"
    if name != name.strip():
        return "has leading or trailing whitespace"
    return None


def check(p: Policy, old: tuple[str, tuple[int, int]] | None = None) -> list[Diagnostic]:
    """Return the reader's diagnostics plus all semantic findings, in line order."""
    c = _Checker(p)
    c.names()
    ver = c.version()
    c.update(ver, old)
    c.types()
    c.conflict_sets()
    c.vm_labels()
    c.bootstrap()
    c.resource_labels()
    c.sizes()
    c.out.sort(key=lambda d: d.line)
    return c.out


class _Checker:
    """One method per part of the policy; each adds its findings to out."""

    def __init__(self, p: Policy) -> None:
        self.p = p
        self.out = list(p.diagnostics)
        self.words = _WORDS.get(p.source_kind, _WORDS["xml"])
        self.ste = {t.name for t in p.ste_types}
        self.chw = {t.name for t in p.chwall_types}
        self.vm_names = {v.name for v in p.vm_labels}

    def add(self, line: int, msg: str, level: str = "error") -> None:
        self.out.append(Diagnostic(self.p.file, line, msg, level))

    def names(self) -> None:
        p = self.p
        if p.name == "":
            if p.has_name:
                self.add(p.name_line, "empty policy name")
        elif len(p.name.encode("ascii", "replace")) > MAX_NAME_LEN:
            self.add(p.name_line, f"policy name is {len(p.name)} characters, at most {MAX_NAME_LEN} are allowed")
        if p.name and (prob := _name_problems(p.name)):
            self.add(p.name_line, f"policy name {p.name!r} {prob}", "strict")

    def version(self) -> tuple[int, int] | None:
        p = self.p
        if not p.has_version:
            return (0, 0)
        ver = parse_version(p.version)
        if ver is None:
            self.add(p.version_line, f"version {p.version!r} is not of the form MAJOR.MINOR")
            return None
        if not all(-_INT31 <= x < _INT31 for x in ver):
            self.add(p.version_line, f"version {p.version!r} does not fit in 32 bits")
        if not _VERSION_TEXT.fullmatch(p.version):
            self.add(p.version_line, f"version {p.version!r} should be MAJOR.MINOR with 1-8 digits each", "strict")
        return ver

    def update(self, ver: tuple[int, int] | None, old: tuple[str, tuple[int, int]] | None) -> None:
        """The update rules: FromPolicy names an older version (and, with --old, that policy)."""
        p, frm = self.p, self.words["from"]
        if p.from_policy is not None:
            fname, fver = p.from_policy
            fv = parse_version(fver)
            if fv is None:
                self.add(p.from_line, f"{frm}: version {fver!r} is not of the form MAJOR.MINOR")
            elif ver is not None and not fv < ver:
                self.add(p.from_line, f"version {p.version} must be greater than the {frm} version {fver}")
            if old is not None:
                oname, over = old
                if fname != oname:
                    self.add(p.from_line, f"{frm} names {fname!r} but the old policy is {oname!r}")
                if fv is not None and fv != over:
                    self.add(p.from_line, f"{frm} has version {fver} but the old policy has version "
                                          f"{over[0]}.{over[1]}")
        elif old is not None:
            self.add(p.name_line, f"an update of policy {old[0]!r} needs {frm} naming it")
        if old is not None and ver is not None and not ver > old[1]:
            self.add(p.version_line,
                     f"version {p.version} must be greater than the old policy's {old[1][0]}.{old[1][1]}")

    def types(self) -> None:
        p = self.p
        for what, lst in (("STE", p.ste_types), ("Chinese Wall", p.chwall_types)):
            seen: set[str] = set()
            for t in lst:
                if t.name in seen:
                    self.add(t.line, f"duplicate {what} type {t.name!r}")
                seen.add(t.name)
                if prob := _name_problems(t.name):
                    self.add(t.line, f"{what} type {t.name!r} {prob}", "strict")
            if len(lst) > MAX_TYPES:
                self.add(lst[MAX_TYPES].line, f"{len(lst)} {what} types, the hypervisor accepts at most {MAX_TYPES}")
        if not p.chwall_types:
            self.add(p.name_line, "no Chinese Wall types: Xen's format then marks the blob STE/UNDEFINED, which no "
                                  f"hypervisor loads; declare {self.words['chwall']}", "strict")

    def conflict_sets(self) -> None:
        p = self.p
        set_names: Counter[str] = Counter()
        for c in p.conflict_sets:
            if c.name == "":
                self.add(c.line, "conflict set without a name")
                continue
            set_names[c.name] += 1
            if set_names[c.name] == 2:
                self.add(c.line, f"duplicate conflict set name {c.name!r}", "strict")
            if prob := _name_problems(c.name):
                self.add(c.line, f"conflict set name {c.name!r} {prob}", "strict")
            known = [t for t in c.types if t.name in self.chw]
            for t in c.types:
                if t.name not in self.chw:
                    self.add(t.line, f"conflict set {c.name!r}: unknown Chinese Wall type {t.name!r}"
                                     + did_you_mean(t.name, self.chw), "strict")
            if not known:
                self.add(c.line, f"conflict set {c.name!r} is empty", "strict")
            elif len({t.name for t in known}) == 1:
                self.add(c.line, f"conflict set {c.name!r} has a single type and can never deny anything", "warning")
        if len(p.conflict_sets) > MAX_CONFLICT_SETS:
            self.add(p.conflict_sets[MAX_CONFLICT_SETS].line,
                     f"{len(p.conflict_sets)} conflict sets, at most {MAX_CONFLICT_SETS} are allowed")

    def vm_labels(self) -> None:
        p = self.p
        sets_of: dict[str, set[int]] = {}
        for ci, c in enumerate(p.conflict_sets):
            for t in c.types:
                sets_of.setdefault(t.name, set()).add(ci)
        seen: Counter[str] = Counter()
        for v in p.vm_labels:
            who = self.label_name("VM label", v.name, v.line, seen)
            self.known_types(who, v.ste, self.ste, "STE")
            self.known_types(who, v.chwall, self.chw, "Chinese Wall")
            mine = {t.name for t in v.chwall}
            for ci in sorted({ci for t in mine for ci in sets_of.get(t, ())}):
                c = p.conflict_sets[ci]
                both = sorted(mine & {t.name for t in c.types})
                if len(both) > 1:
                    self.add(v.line, f"{who} holds {len(both)} types of conflict set {c.name!r} "
                                     f"({', '.join(both)}): it would conflict with itself", "strict")
            if v.permissions is not None:
                for key in TARGETED:
                    tg = v.permissions.targets(key)
                    for t in tg.labels if tg is not None else []:
                        if t.name not in self.vm_names:
                            self.add(t.line, f"{who} may {_VERBS[key]} unknown label {t.name!r}"
                                             + did_you_mean(t.name, self.vm_names))
                seen_dev: set[str] = set()
                for d in v.permissions.devices:
                    if d.name not in DEVICES:
                        self.add(d.line, f"{who} may be assigned unknown device {d.name!r} "
                                         f"(known: {', '.join(DEVICES)})" + did_you_mean(d.name, DEVICES))
                    elif d.name in seen_dev:
                        self.add(d.line, f"{who} lists device {d.name!r} twice", "warning")
                    seen_dev.add(d.name)
            if v.quota is not None and v.quota.memory is not None and v.quota.memory % 4:
                self.add(v.quota.line, f"{who}: quota memory={v.quota.memory}K is not a whole number of 4 KiB "
                                       "frames (it is rounded down)", "warning")
        if p.uses_quotas() and len(p.vm_labels) + 1 > QUOTA_MAX_ROWS:
            line = next(v.quota.line for v in p.vm_labels if v.quota is not None)
            self.add(line, f"quotas work for at most {QUOTA_MAX_ROWS} labels; the policy has {len(p.vm_labels) + 1}")

    def bootstrap(self) -> None:
        p = self.p
        if not p.has_subjects:
            return
        if not p.vm_labels:
            self.add(p.bootstrap_line, "no VM labels")
        elif p.bootstrap == "":
            self.add(p.bootstrap_line, f"missing bootstrap label ({self.words['bootstrap']})")
        elif p.bootstrap not in self.vm_names:
            self.add(p.bootstrap_line, f"bootstrap label {p.bootstrap!r} is not a VM label"
                                       + did_you_mean(p.bootstrap, self.vm_names))
        elif p.bootstrap == UNLABELED:
            self.add(p.bootstrap_line, f"bootstrap label must not be {UNLABELED}", "strict")

    def resource_labels(self) -> None:
        seen: Counter[str] = Counter()
        for r in self.p.resource_labels:
            who = self.label_name("resource label", r.name, r.line, seen)
            if r.ste is None:
                self.add(r.line, f"{who} has no STE type (Xen ignores it); it needs exactly one", "strict")
                continue
            if len(r.ste) != 1:
                self.add(r.line, f"{who} has {len(r.ste)} STE types, it needs exactly one", "strict")
            self.known_types(who, r.ste, self.ste, "STE")

    def label_name(self, kind: str, name: str, line: int, seen: Counter[str]) -> str:
        """Duplicates and bad characters of a label's name; 'kind 'name'' for the messages."""
        seen[name] += 1
        who = f"{kind} {name!r}"
        if seen[name] == 2:
            self.add(line, f"duplicate {who}")
        if prob := _name_problems(name):
            self.add(line, f"{who} {prob}", "strict")
        return who

    def known_types(self, who: str, types: list[Named], known: set[str], what: str) -> None:
        for t in types:
            if t.name not in known:
                # Xen detects unknown types only when its list is non-empty
                self.add(t.line, f"{who}: unknown {what} type {t.name!r}" + did_you_mean(t.name, known),
                         "error" if known else "strict")

    def sizes(self) -> None:
        p = self.p
        num = numbering(p)
        if num.ste_ssidrefs > MAX_SSIDREFS:
            self.add(p.bootstrap_line, f"{num.ste_ssidrefs} VM and resource labels (with {UNLABELED}), "
                                       f"at most {MAX_SSIDREFS} are allowed")
            return
        from .binary import blob_size

        size = blob_size(p, num)
        if size > MAX_POLICY_SIZE:
            self.add(p.name_line, f"the compiled policy would be {size} bytes, at most {MAX_POLICY_SIZE} are allowed")


def fatal(diags: list[Diagnostic], xen_compat: bool) -> list[Diagnostic]:
    return [d for d in diags if d.level == "error" or (d.level == "strict" and not xen_compat)]
