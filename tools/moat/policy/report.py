# SPDX-License-Identifier: MIT
"""What `moat policy dump`, `query`, `labels` and `diff` print, as text or JSON-ready data."""

from __future__ import annotations

from typing import Any

from . import analysis
from .binary import CODE_NAMES, Blob
from .mapfile import MapInfo
from .model import PERM_NAMES, device_names, format_quota, format_sched


def names(m: MapInfo | None, b: Blob) -> tuple[list[str], list[str], dict[int, str]]:
    """Names of the CHWALL types, STE types and rows of a blob, from its map ('' when unknown)."""
    m = m or MapInfo()
    chw = [m.chwall_types.get(j, "") for j in range(b.chwall.types)]
    ste = [m.ste_types.get(j, "") for j in range(b.ste.types)]
    rows = {0: "__UNLABELED__"} | m.vm_rows | m.res_rows
    return chw, ste, rows


def _row_line(i: int, row: bytes, types: list[str], label: str) -> str:
    cells = row.translate(bytes.maketrans(b"\0\1", b"01")).decode()
    named = [types[j] or str(j) for j, c in enumerate(row) if c]
    return f"    {i:5d} {label:<24} {cells}  {{{', '.join(named)}}}"


def dump_json(b: Blob, m: MapInfo | None) -> dict[str, Any]:
    j = b.to_json()
    if m is not None:
        chw, ste, rows = names(m, b)
        j["names"] = {"chwall_types": chw, "ste_types": ste, "rows": {str(k): v for k, v in sorted(rows.items())}}
    return j


def dump_text(b: Blob, m: MapInfo | None) -> str:
    chw, ste, rows = names(m, b)
    o = [
        f"ACM policy {b.name!r}, {b.size} bytes, policy_version 4, magic 0x0001debc",
        f"  header: policy_reference_offset 60, primary {CODE_NAMES[b.primary]} @ {b.primary_off}, "
        f"secondary {CODE_NAMES[b.secondary]} @ {b.secondary_off}",
        f"  xml version {b.xml_version[0]}.{b.xml_version[1]}, xml hash {b.xml_hash.hex()}",
        "  loadable: yes" if b.loadable else f"  loadable: NO ({b.not_loadable_reason})",
    ]
    c = b.chwall
    o.append(f"CHWALL section @ {c.offset} ({c.size} bytes): {c.types} types, {c.ssidrefs} ssidrefs, "
             f"{c.sets} conflict sets")
    if any(chw):
        o.append("  types: " + ", ".join(f"{j}={n}" for j, n in enumerate(chw)))
    o.append("  ssidrefs (row, label, cells, types):")
    o += [_row_line(i, r, chw, rows.get(i, "")) for i, r in enumerate(c.ssid)]
    o.append("  conflict sets:")
    o += [_row_line(k, r, chw, "") for k, r in enumerate(c.conflict)]
    s = b.ste
    o.append(f"STE section @ {s.offset} ({s.size} bytes): {s.types} types, {s.ssidrefs} ssidrefs")
    if any(ste):
        o.append("  types: " + ", ".join(f"{j}={n}" for j, n in enumerate(ste)))
    o.append("  ssidrefs (row, label, cells, types):")
    o += [_row_line(i, r, ste, rows.get(i, "")) for i, r in enumerate(s.ssid)]
    o += _extension_lines(b, rows)
    return "\n".join(o)


def _extension_lines(b: Blob, rows: dict[int, str]) -> list[str]:
    e = b.ext
    if e is None:
        return ["no moat extension"]
    held = [k for k, per_row in e.targets.items() if any(per_row)]
    o = [f"moat extension v{e.version} @ {e.offset} ({e.size} bytes), {e.sections} sections: permissions "
         f"of {e.rows} VM rows" + (f"; target sections: {', '.join(held)}" if held else "")
         + ("; devices section" if any(e.devices) else "")
         + ("; quotas section" if any(format_quota(q) != "none" for q in e.quotas) else "")
         + ("; sched section" if any(any(s) for s in e.sched) else "")]
    for i in range(e.rows):
        quota = format_quota(e.quotas[i])
        sched = format_sched(e.sched[i])
        if not e.flags[i] and not e.devices[i] and quota == "none" and sched == "none":
            continue
        parts = []
        for n, bit in PERM_NAMES.items():
            if not e.flags[i] & bit:
                continue
            tgt = e.targets.get(n, [[]] * e.rows)[i]
            if n == "load_policy":
                parts.append(n)
            elif len(tgt) == e.rows:
                parts.append(f"{n}: all")
            else:
                parts.append(f"{n}: " + ",".join(rows.get(t, f"row{t}") for t in tgt))
        parts += device_names(e.devices[i])
        if quota != "none":
            parts.append(f"quota: {quota}")
        if sched != "none":
            parts.append(f"sched: {sched}")
        o.append(f"    {i:5d} {rows.get(i, ''):<24} " + "; ".join(parts))
    return o


def labels_json(v: analysis.View) -> list[dict[str, Any]]:
    return [
        {
            "name": lab.name,
            "kind": lab.kind,
            "ssidref": lab.ssidref,
            "ste_row": lab.ste_row,
            "chwall_row": lab.chwall_row,
            "ste_types": sorted(lab.ste),
            "chwall_types": sorted(lab.chwall),
            "permissions": sorted(lab.perms),
            "quota": lab.quota,
            "sched": {"weight": lab.weight or None, "cap": lab.cap or None},
            "may_create": sorted(lab.create),
            "targets": {k: sorted(t) for k, t in lab.targets.items()},
        }
        for lab in sorted(v.labels.values(), key=lambda lab: lab.ste_row)
    ]


def labels_text(v: analysis.View) -> str:
    """One line per label: its ssidref and kind, and what limits its domains: the default weight
    and cap of those created without their own, and its quotas ('-': none, so the scheduler's
    weight 256, no cap, no limit). Resource labels have none of these."""
    rows = []
    for lab in sorted(v.labels.values(), key=lambda lab: lab.ste_row):
        tag = " (bootstrap)" if lab.name == v.bootstrap and lab.kind == "vm" else ""
        weight = str(lab.weight) if lab.weight else "-"
        cap = f"{lab.cap}%" if lab.cap else "-"
        quota = lab.quota if lab.quota != "none" else "-"
        rows.append((f"{lab.ssidref:#010x}", lab.kind, lab.name + tag, weight, cap, quota))
    width = max(len("label"), *(len(r[2]) for r in rows))
    o = [f"{'ssidref':<10}  {'kind':<8}  {'label':<{width}}  {'weight':>6}  {'cap':>4}  quota"]
    o += [f"{s:<10}  {k:<8}  {n:<{width}}  {w:>6}  {c:>4}  {q}" for s, k, n, w, c, q in rows]
    return "\n".join(line.rstrip() for line in o)


def query_text(r: dict[str, Any]) -> str:
    a, b = r["a"], r["b"]
    o = []
    if r["share"]:
        plural = "s" if len(r["shared_ste_types"]) > 1 else ""
        o.append(f"share: yes: {a} and {b} share STE type{plural} {', '.join(r['shared_ste_types'])} "
                 "(event channels and grants allowed)")
    else:
        o.append(f"share: no: {a} and {b} have no STE type in common (event channels and grants denied)")
    if r["conflict"]:
        o.append("conflict: yes")
        o += [f"  {b} cannot start while {a} runs: {why}" for why in r["a_blocks_b"]]
        o += [f"  {a} cannot start while {b} runs: {why}" for why in r["b_blocks_a"]]
    else:
        o.append(f"conflict: no: {a} and {b} may run at the same time")
    for subj, obj, may in ((a, b, r["a_may_on_b"]), (b, a, r["b_may_on_a"])):
        if may:
            o.append(f"control: {subj} may {', '.join(may)} domains labelled {obj}")
        else:
            o.append(f"control: {subj} may do nothing to domains labelled {obj}")
    for lab, key in ((a, "a_quota"), (b, "b_quota")):
        if r.get(key, "none") != "none":
            o.append(f"quota: {lab}: {r[key]}")
    for lab, key in ((a, "a_sched"), (b, "b_sched")):  # the label's default for its new domains
        if r.get(key, "none") != "none":
            o.append(f"sched: {lab}: {r[key]} (default of its domains)")
    return "\n".join(o)


_DIFF_LABELS = (
    ("labels_removed", "labels removed (domains with them must go first)"),
    ("labels_added", "labels added"),
)
_DIFF_PAIRS = (
    ("sharing_lost", "sharing REVOKED (channels/grants between these will be refused or revoked)"),
    ("sharing_gained", "sharing granted"),
    ("conflicts_added", "new Chinese Wall conflicts (cannot run together any more)"),
    ("conflicts_removed", "conflicts removed"),
)


def diff_text(d: dict[str, Any], old: tuple[str, str, str], new: tuple[str, str, str]) -> str:
    """old, new: (file, policy name, version)."""
    o = [f"--- {old[0]} ({old[1]} {old[2]})", f"+++ {new[0]} ({new[1]} {new[2]})"]
    for key, title in _DIFF_LABELS:
        if d[key]:
            o.append(f"{title}:")
            o += [f"  {n}" for n in d[key]]
    for key, title in _DIFF_PAIRS:
        if d[key]:
            o.append(f"{title}:")
            o += [f"  {a} <-> {b}" for a, b in d[key]]
    for pc in d["permissions_changed"]:
        parts = [f"-{x}" for x in pc["lost"]] + [f"+{x}" for x in pc["gained"]]
        for k, labels in pc["targets_lost"].items():
            parts += [f"-{k}:{x}" for x in labels]
        for k, labels in pc["targets_gained"].items():
            parts += [f"+{k}:{x}" for x in labels]
        o.append(f"permissions of {pc['label']}: {' '.join(parts)}")
    if not any(d[k] for k in d):
        o.append("no change in labels, sharing, conflicts or permissions")
    return "\n".join(o)
