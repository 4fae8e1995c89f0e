# SPDX-License-Identifier: MIT
"""A name-level view of a policy, built from a source policy or from a blob (+ map),
and the questions asked of it: labels, query (share? conflict?), diff."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .binary import Blob
from .mapfile import MapInfo
from .model import PERM_NAMES, TARGETED, UNLABELED, Policy, device_names, format_quota, format_sched, numbering


@dataclass
class Label:
    name: str
    kind: str  # "vm" or "resource"
    ste_row: int
    chwall_row: int | None
    ste: frozenset[str]
    chwall: frozenset[str]
    perms: frozenset[str] = frozenset()
    # per targeted permission held: the labels of the domains it acts on
    targets: dict[str, frozenset[str]] = field(default_factory=dict)
    quota: str = "none"  # its resource limits as format_quota shows them
    # the default weight and cap of its domains created without their own (0: none)
    weight: int = 0
    cap: int = 0

    @property
    def sched(self) -> str:
        """Its scheduling defaults as format_sched shows them: 'weight=512 cap=20', or 'none'."""
        return format_sched([self.weight, self.cap])

    @property
    def create(self) -> frozenset[str]:
        return self.targets.get("create", frozenset())

    @property
    def ssidref(self) -> int:
        if self.kind == "vm":
            return (self.ste_row << 16) | (self.chwall_row or 0)
        return self.ste_row


@dataclass
class View:
    name: str
    version: str
    labels: dict[str, Label] = field(default_factory=dict)
    conflict_sets: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    bootstrap: str = ""

    def get(self, name: str) -> Label:
        if name in self.labels:
            return self.labels[name]
        for lab in self.labels.values():  # allow "row N" / ssidref forms for nameless blobs
            if name in (f"row{lab.ste_row}", f"{lab.ssidref:#x}", f"{lab.ssidref:#010x}"):
                return lab
        raise KeyError(name)


def _flag_names(flags: int) -> frozenset[str]:
    return frozenset(n for n, b in PERM_NAMES.items() if flags & b)


def from_policy(p: Policy) -> View:
    num = numbering(p)
    v = View(p.name, p.version, bootstrap=p.bootstrap)
    for i, lab in enumerate(num.vm_by_row):
        name = num.vm_rows[i]
        if lab is None:
            v.labels[name] = Label(name, "vm", i, i, frozenset(), frozenset())
            continue
        pm = lab.permissions
        targets: dict[str, frozenset[str]] = {}
        for key in TARGETED:
            tg = pm.targets(key) if pm else None
            names = frozenset(n for n in tg.names(num.vm_rows) if n in num.vm_rows) if tg else frozenset()
            if names:
                targets[key] = names
        perms = frozenset(targets) | ({"load_policy"} if pm and pm.load_policy else set())
        perms |= frozenset(device_names(pm.device_mask()) if pm else [])
        v.labels[name] = Label(
            name,
            "vm",
            i,
            i,
            frozenset(t.name for t in lab.ste if t.name in num.ste_types),
            frozenset(t.name for t in lab.chwall if t.name in num.chwall_types),
            frozenset(perms),
            targets,
            format_quota(lab.quota.cells()) if lab.quota else "none",
            *(lab.sched.cells() if lab.sched else []),
        )
    base = len(num.vm_rows)
    for i, r in enumerate(num.res_by_row):
        key = r.name if r.name not in v.labels else f"resource:{r.name}"
        v.labels[key] = Label(
            key,
            "resource",
            base + i,
            None,
            frozenset(t.name for t in (r.ste or []) if t.name in num.ste_types),
            frozenset(),
        )
    chw = set(num.chwall_types)
    v.conflict_sets = [(c.name, frozenset(t.name for t in c.types if t.name in chw)) for c in num.conflict_sets]
    return v


def from_blob(b: Blob, m: MapInfo | None) -> View:
    m = m or MapInfo()
    ste_t = [m.ste_types.get(j, f"ste{j}") for j in range(b.ste.types)]
    chw_t = [m.chwall_types.get(j, f"chwall{j}") for j in range(b.chwall.types)]

    def cols(row: bytes, names: list[str]) -> frozenset[str]:
        return frozenset(names[j] for j, c in enumerate(row) if c)

    v = View(b.name, f"{b.xml_version[0]}.{b.xml_version[1]}")
    rc = b.chwall.ssidrefs
    row_names: dict[int, str] = {}
    for i in range(b.ste.ssidrefs):
        if i < rc:
            name = UNLABELED if i == 0 else m.vm_rows.get(i, f"row{i}")
        else:
            name = m.res_rows.get(i, f"row{i}")
            if name in row_names.values():
                name = f"resource:{name}"
        row_names[i] = name
    for i in range(b.ste.ssidrefs):
        name = row_names[i]
        if i < rc:
            perms: frozenset[str] = frozenset()
            targets: dict[str, frozenset[str]] = {}
            if b.ext is not None:
                perms = _flag_names(b.ext.flags[i]) | frozenset(device_names(b.ext.devices[i]))
                for key, per_row in b.ext.targets.items():
                    if per_row[i]:
                        targets[key] = frozenset(row_names[t] for t in per_row[i])
            v.labels[name] = Label(
                name, "vm", i, i, cols(b.ste.ssid[i], ste_t), cols(b.chwall.ssid[i], chw_t), perms, targets,
                format_quota(b.ext.quotas[i]) if b.ext is not None else "none",
                *(b.ext.sched[i] if b.ext is not None else []),
            )
        else:
            v.labels[name] = Label(name, "resource", i, None, cols(b.ste.ssid[i], ste_t), frozenset())
    if rc > 1:
        v.bootstrap = row_names[1]
    v.conflict_sets = [(f"set{k}", cols(row, chw_t)) for k, row in enumerate(b.chwall.conflict)]
    return v


def conflicts(view: View, running: Label, starting: Label) -> list[str]:
    """Why `starting` may not start while `running` runs (Chinese Wall), as text; [] if it may."""
    if running.kind != "vm" or starting.kind != "vm":
        return []
    out = []
    for name, s in view.conflict_sets:
        held = running.chwall & s
        if not held:
            continue
        blocked = (starting.chwall & s) - running.chwall
        if blocked:
            out.append(
                f"conflict set {name!r}: {running.name} holds {', '.join(sorted(held))}, "
                f"{starting.name} holds {', '.join(sorted(blocked))}"
            )
    return out


def powers(subj: Label, obj: Label) -> list[str]:
    """What a domain labelled subj may do to domains labelled obj (targeted permissions)."""
    if subj.kind != "vm" or obj.kind != "vm":
        return []
    return [key for key in TARGETED if obj.name in subj.targets.get(key, frozenset())]


def query(view: View, a: str, b: str) -> dict[str, Any]:
    la, lb = view.get(a), view.get(b)
    shared = sorted(la.ste & lb.ste)
    return {
        "a": la.name,
        "b": lb.name,
        "share": bool(shared),
        "shared_ste_types": shared,
        "conflict": bool(conflicts(view, la, lb) or conflicts(view, lb, la)),
        "a_blocks_b": conflicts(view, la, lb),
        "b_blocks_a": conflicts(view, lb, la),
        "a_may_on_b": powers(la, lb),
        "b_may_on_a": powers(lb, la),
        "a_quota": la.quota,
        "b_quota": lb.quota,
        "a_sched": la.sched,
        "b_sched": lb.sched,
    }


def diff(old: View, new: View) -> dict[str, Any]:
    on, nn = set(old.labels), set(new.labels)
    common = sorted(on & nn)
    lost, gained, conf_new, conf_gone = [], [], [], []
    for i, a in enumerate(common):
        for b in common[i:]:
            s_old = bool(old.labels[a].ste & old.labels[b].ste)
            s_new = bool(new.labels[a].ste & new.labels[b].ste)
            if s_old and not s_new:
                lost.append((a, b))
            elif s_new and not s_old:
                gained.append((a, b))
            if a == b:
                continue
            c_old = bool(conflicts(old, old.labels[a], old.labels[b]) or conflicts(old, old.labels[b], old.labels[a]))
            c_new = bool(conflicts(new, new.labels[a], new.labels[b]) or conflicts(new, new.labels[b], new.labels[a]))
            if c_new and not c_old:
                conf_new.append((a, b))
            elif c_old and not c_new:
                conf_gone.append((a, b))
    perms = []
    for a in common:
        lo, ln = old.labels[a], new.labels[a]
        if lo.perms != ln.perms or lo.targets != ln.targets:
            lost_t = {k: sorted(lo.targets.get(k, frozenset()) - ln.targets.get(k, frozenset())) for k in TARGETED}
            gained_t = {k: sorted(ln.targets.get(k, frozenset()) - lo.targets.get(k, frozenset())) for k in TARGETED}
            perms.append(
                {
                    "label": a,
                    "lost": sorted(lo.perms - ln.perms),
                    "gained": sorted(ln.perms - lo.perms),
                    "create_lost": lost_t["create"],
                    "create_gained": gained_t["create"],
                    "targets_lost": {k: v for k, v in lost_t.items() if v},
                    "targets_gained": {k: v for k, v in gained_t.items() if v},
                }
            )
    return {
        "labels_removed": sorted(on - nn),
        "labels_added": sorted(nn - on),
        "sharing_lost": lost,
        "sharing_gained": gained,
        "conflicts_added": conf_new,
        "conflicts_removed": conf_gone,
        "permissions_changed": perms,
    }
