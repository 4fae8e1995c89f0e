# SPDX-License-Identifier: MIT
"""Every check ``moat policy check`` makes.  All findings are collected, none stops the others.

Levels: 'error' — Xen 4.1's compiler refuses it too, or it cannot be encoded;
'strict' — Xen 4.1 accepted it but it is wrong (we refuse it unless
``--xen-compat``); 'warning' — suspicious but harmless.
"""

from __future__ import annotations

from collections import Counter

from .model import (
    MAX_CONFLICT_SETS,
    MAX_NAME_LEN,
    MAX_POLICY_SIZE,
    MAX_SSIDREFS,
    MAX_TYPES,
    TARGETED,
    UNLABELED,
    Diagnostic,
    Named,
    Policy,
    numbering,
    parse_version,
)

_INT31 = 2**31
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
    out = list(p.diagnostics)
    f = p.file

    def add(line: int, msg: str, level: str = "error") -> None:
        out.append(Diagnostic(f, line, msg, level))

    # names --------------------------------------------------------------------
    if p.name == "":
        if p.has_name:
            add(p.name_line, "empty policy name")
    elif len(p.name.encode("ascii", "replace")) > MAX_NAME_LEN:
        add(p.name_line, f"policy name is {len(p.name)} characters, at most {MAX_NAME_LEN} are allowed")
    if p.name and (prob := _name_problems(p.name)):
        add(p.name_line, f"policy name {p.name!r} {prob}", "strict")

    # version -----------------------------------------------------------------
    ver = parse_version(p.version) if p.has_version else (0, 0)
    if not p.has_version:
        pass
    elif ver is None:
        add(p.version_line, f"version {p.version!r} is not of the form MAJOR.MINOR")
    else:
        if not all(-_INT31 <= x < _INT31 for x in ver):
            add(p.version_line, f"version {p.version!r} does not fit in 32 bits")
        import re

        if not re.fullmatch(r"[0-9]{1,8}(\.[0-9]{1,8})?", p.version):
            add(p.version_line, f"version {p.version!r} should be MAJOR.MINOR with 1-8 digits each", "strict")

    # update rules --------------------------------------------------------------
    if p.from_policy is not None:
        fname, fver = p.from_policy
        fv = parse_version(fver)
        if fv is None:
            add(p.from_line, f"FromPolicy version {fver!r} is not of the form MAJOR.MINOR")
        elif ver is not None and not fv < ver:
            add(p.from_line, f"version {p.version} must be greater than the FromPolicy version {fver}")
        if old is not None:
            oname, over = old
            if fname != oname:
                add(p.from_line, f"FromPolicy names {fname!r} but the old policy is {oname!r}")
            if fv is not None and fv != over:
                add(p.from_line, f"FromPolicy version {fver} but the old policy has version {over[0]}.{over[1]}")
    elif old is not None:
        add(p.name_line, f"an update of policy {old[0]!r} needs <FromPolicy> naming it")
    if old is not None and ver is not None and not ver > old[1]:
        add(p.version_line, f"version {p.version} must be greater than the old policy's {old[1][0]}.{old[1][1]}")

    # types ---------------------------------------------------------------------
    ste = {t.name for t in p.ste_types}
    chw = {t.name for t in p.chwall_types}
    for what, lst in (("STE", p.ste_types), ("Chinese Wall", p.chwall_types)):
        seen: set[str] = set()
        for t in lst:
            if t.name in seen:
                add(t.line, f"duplicate {what} type {t.name!r}")
            seen.add(t.name)
            if prob := _name_problems(t.name):
                add(t.line, f"{what} type {t.name!r} {prob}", "strict")
        if len(lst) > MAX_TYPES:
            add(lst[MAX_TYPES].line, f"{len(lst)} {what} types, the hypervisor accepts at most {MAX_TYPES}")
    if not p.chwall_types:
        add(
            p.name_line,
            "no Chinese Wall types: Xen's format then marks the blob STE/UNDEFINED, which no hypervisor loads; "
            "declare at least one ChineseWallTypes type",
            "strict",
        )

    # conflict sets ---------------------------------------------------------------
    set_names: Counter[str] = Counter()
    for c in p.conflict_sets:
        if c.name == "":
            add(c.line, "conflict set without a name")
            continue
        set_names[c.name] += 1
        if set_names[c.name] == 2:
            add(c.line, f"duplicate conflict set name {c.name!r}", "strict")
        if prob := _name_problems(c.name):
            add(c.line, f"conflict set name {c.name!r} {prob}", "strict")
        known = [t for t in c.types if t.name in chw]
        for t in c.types:
            if t.name not in chw:
                add(t.line, f"conflict set {c.name!r}: unknown Chinese Wall type {t.name!r}", "strict")
        if not known:
            add(c.line, f"conflict set {c.name!r} is empty", "strict")
        elif len({t.name for t in known}) == 1:
            add(c.line, f"conflict set {c.name!r} has a single type and can never deny anything", "warning")
    if len(p.conflict_sets) > MAX_CONFLICT_SETS:
        add(
            p.conflict_sets[MAX_CONFLICT_SETS].line,
            f"{len(p.conflict_sets)} conflict sets, at most {MAX_CONFLICT_SETS} are allowed",
        )

    # labels ----------------------------------------------------------------------
    sets_of: dict[str, set[int]] = {}
    for ci, c in enumerate(p.conflict_sets):
        for t in c.types:
            sets_of.setdefault(t.name, set()).add(ci)
    vm_names: Counter[str] = Counter()
    vm_set = {v.name for v in p.vm_labels}
    for v in p.vm_labels:
        vm_names[v.name] += 1
        if vm_names[v.name] == 2:
            add(v.line, f"duplicate VM label {v.name!r}")
        if prob := _name_problems(v.name):
            add(v.line, f"VM label {v.name!r} {prob}", "strict")
        _check_types(add, f"VM label {v.name!r}", v.ste, ste, "STE")
        _check_types(add, f"VM label {v.name!r}", v.chwall, chw, "Chinese Wall")
        mine = {t.name for t in v.chwall}
        for ci in sorted({ci for t in mine for ci in sets_of.get(t, ())}):
            c = p.conflict_sets[ci]
            both = sorted(mine & {t.name for t in c.types})
            if len(both) > 1:
                add(
                    v.line,
                    f"VM label {v.name!r} holds {len(both)} types of conflict set {c.name!r} "
                    f"({', '.join(both)}): it would conflict with itself",
                    "strict",
                )
        if v.permissions is not None:
            for key in TARGETED:
                tg = v.permissions.targets(key)
                for t in tg.labels if tg is not None else []:
                    if t.name not in vm_set:
                        add(t.line, f"VM label {v.name!r} may {_VERBS[key]} unknown label {t.name!r}")
    if not p.has_subjects:
        pass
    elif not p.vm_labels:
        add(p.bootstrap_line, "no VM labels")
    elif p.bootstrap == "":
        add(p.bootstrap_line, "missing bootstrap label (SubjectLabels bootstrap=...)")
    elif p.bootstrap not in vm_set:
        add(p.bootstrap_line, f"bootstrap label {p.bootstrap!r} is not a VM label")
    elif p.bootstrap == UNLABELED:
        add(p.bootstrap_line, f"bootstrap label must not be {UNLABELED}", "strict")

    res_names: Counter[str] = Counter()
    for r in p.resource_labels:
        res_names[r.name] += 1
        if res_names[r.name] == 2:
            add(r.line, f"duplicate resource label {r.name!r}")
        if prob := _name_problems(r.name):
            add(r.line, f"resource label {r.name!r} {prob}", "strict")
        if r.ste is None:
            add(r.line, f"resource label {r.name!r} has no STE type (Xen ignores it); it needs exactly one", "strict")
            continue
        if len(r.ste) != 1:
            add(r.line, f"resource label {r.name!r} has {len(r.ste)} STE types, it needs exactly one", "strict")
        _check_types(add, f"resource label {r.name!r}", r.ste, ste, "STE")

    # sizes -------------------------------------------------------------------------
    num = numbering(p)
    if num.ste_ssidrefs > MAX_SSIDREFS:
        add(
            p.bootstrap_line,
            f"{num.ste_ssidrefs} VM and resource labels (with {UNLABELED}), at most {MAX_SSIDREFS} are allowed",
        )
    else:
        from .binary import blob_size

        size = blob_size(p, num)
        if size > MAX_POLICY_SIZE:
            add(p.name_line, f"the compiled policy would be {size} bytes, at most {MAX_POLICY_SIZE} are allowed")
    out.sort(key=lambda d: d.line)
    return out


def _check_types(add, who: str, types: list[Named], known: set[str], what: str) -> None:  # type: ignore[no-untyped-def]
    for t in types:
        if t.name not in known:
            # Xen detects unknown types only when its list is non-empty
            add(t.line, f"{who}: unknown {what} type {t.name!r}", "error" if known else "strict")


def fatal(diags: list[Diagnostic], xen_compat: bool) -> list[Diagnostic]:
    return [d for d in diags if d.level == "error" or (d.level == "strict" and not xen_compat)]
