# SPDX-License-Identifier: MIT
"""``moat policy``: compile, check, dump, query, labels, diff (and convert) ACM policies."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from moat.policy import analysis, is_blob, read_policy_bytes
from moat.policy.binary import CODE_NAMES, Blob, BlobError, compile_policy, decode
from moat.policy.mapfile import MapError, MapInfo, read_map, write_map
from moat.policy.model import PERM_NAMES, Diagnostic, Policy, numbering, parse_version
from moat.policy.validate import check, fatal
from moat.policy.writers import to_toml, to_xml
from moat.policy.xmlreader import PolicyReadError


class _Fail(Exception):
    """Print the message to stderr and exit 1."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "policy",
        help="compile, check and inspect ACM security policies",
        description="Xen ACM policies (XML or TOML) and their binary form.",
    )
    sp = p.add_subparsers(dest="policy_cmd", metavar="COMMAND")
    sp.required = True

    c = sp.add_parser("compile", help="compile a policy to the binary the hypervisor loads")
    c.add_argument("policy", help="policy source (.xml or .toml)")
    c.add_argument("-o", "--output", help="binary to write (default: the source with .bin)")
    c.add_argument("--map", dest="mapfile", help="also write the label/type map file")
    _common_check_args(c)
    c.set_defaults(func=_guard(cmd_compile))

    k = sp.add_parser("check", help="validate a policy and print every problem as file:line: message")
    k.add_argument("policy")
    _common_check_args(k)
    k.set_defaults(func=_guard(cmd_check))

    d = sp.add_parser("dump", help="decode a binary policy")
    d.add_argument("blob")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("--map", dest="mapfile", help="map file to name labels and types")
    d.set_defaults(func=_guard(cmd_dump))

    q = sp.add_parser("query", help="may two labels share, do they conflict, and through which types")
    q.add_argument("policy", help="policy source or binary")
    q.add_argument("label_a")
    q.add_argument("label_b")
    q.add_argument("--map", dest="mapfile", help="map file for a binary")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_guard(cmd_query))

    la = sp.add_parser("labels", help="list labels with their ssidrefs")
    la.add_argument("policy", help="policy source or binary")
    la.add_argument("--map", dest="mapfile", help="map file for a binary")
    la.add_argument("--json", action="store_true")
    la.set_defaults(func=_guard(cmd_labels))

    df = sp.add_parser("diff", help="what changing from OLD to NEW grants and revokes")
    df.add_argument("old")
    df.add_argument("new")
    df.add_argument("--old-map", help="map file for an OLD binary")
    df.add_argument("--new-map", help="map file for a NEW binary")
    df.add_argument("--json", action="store_true")
    df.set_defaults(func=_guard(cmd_diff))

    cv = sp.add_parser("convert", help="rewrite a policy as XML or TOML")
    cv.add_argument("policy")
    cv.add_argument("--to", choices=("xml", "toml"), required=True)
    cv.add_argument("-o", "--output")
    cv.set_defaults(func=_guard(cmd_convert))


def _common_check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--xen-compat",
        action="store_true",
        help="accept what Xen 4.1's compiler accepted (our extra checks become warnings)",
    )
    p.add_argument("--old", help="the policy (source or binary) this one updates: checks FromPolicy and version")


def _guard(fn: Any) -> Any:
    """Errors become one line on stderr and exit status 1, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args) or 0)
        except _Fail as e:
            print(f"moat policy: {e}", file=sys.stderr)
            return 1

    run.__name__ = fn.__name__
    return run


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m moat.commands.policy``); the moat CLI calls register()."""
    ap = argparse.ArgumentParser(prog="moat")
    sub = ap.add_subparsers(dest="cmd")
    register(sub)
    args = ap.parse_args(argv)
    if not hasattr(args, "func"):
        ap.print_help()
        return 2
    return int(args.func(args) or 0)


# ------------------------------------------------------------------ helpers


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise _Fail(f"{path}: {e.strerror}") from None


def _load_source(path: str) -> Policy:
    data = _read(path)
    if is_blob(data):
        raise _Fail(f"{path}: this is a compiled binary, a policy source (.xml or .toml) is needed")
    try:
        return read_policy_bytes(data, path)
    except PolicyReadError as e:
        for d in e.diagnostics:
            print(d, file=sys.stderr)
        raise _Fail(f"{path}: cannot read the policy") from None


def _load_blob(path: str, data: bytes | None = None) -> Blob:
    data = _read(path) if data is None else data
    try:
        return decode(data)
    except BlobError as e:
        raise _Fail(f"{path}: malformed policy binary: offset {e.offset} ({e.field}): {e.message}") from None


def _load_map(path: str | None) -> MapInfo | None:
    if path is None:
        return None
    try:
        return read_map(_read(path).decode("utf-8", "replace"), path)
    except MapError as e:
        raise _Fail(str(e)) from None


def _old_info(path: str | None) -> tuple[str, tuple[int, int]] | None:
    if path is None:
        return None
    data = _read(path)
    if is_blob(data):
        b = _load_blob(path, data)
        return b.name, b.xml_version
    old = _load_source(path)
    v = parse_version(old.version)
    if v is None:
        raise _Fail(f"{path}: the old policy's version {old.version!r} is not MAJOR.MINOR")
    return old.name, v


def _checked(args: argparse.Namespace) -> tuple[Policy, list[Diagnostic], bool]:
    pol = _load_source(args.policy)
    diags = check(pol, _old_info(args.old))
    bad = fatal(diags, args.xen_compat)
    for d in diags:
        if d in bad:
            print(d, file=sys.stderr)
        else:
            shown = Diagnostic(d.file, d.line, d.message, "warning")
            print(shown, file=sys.stderr)
    return pol, diags, bool(bad)


def _view(path: str, mapfile: str | None) -> analysis.View:
    data = _read(path)
    if is_blob(data):
        return analysis.from_blob(_load_blob(path, data), _load_map(mapfile))
    pol = _load_source(path)
    bad = fatal(check(pol), xen_compat=True)
    if bad:
        for d in bad:
            print(d, file=sys.stderr)
        raise _Fail(f"{path}: the policy has errors (see `moat policy check`)")
    return analysis.from_policy(pol)


# ------------------------------------------------------------------ commands


def cmd_check(args: argparse.Namespace) -> int:
    pol, diags, bad = _checked(args)
    if bad:
        n = len(fatal(diags, args.xen_compat))
        print(f"{args.policy}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    num = numbering(pol)
    print(
        f"{args.policy}: OK: policy {pol.name!r} {pol.version}, {len(num.ste_types)} STE types, "
        f"{len(num.chwall_types)} Chinese Wall types, {len(num.conflict_sets)} conflict sets, "
        f"{len(num.vm_rows) - 1} VM labels, {len(num.res_rows)} resource labels"
        + (", permissions extension" if pol.uses_permissions() else "")
    )
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    pol, _, bad = _checked(args)
    if bad:
        print(f"{args.policy}: not compiled", file=sys.stderr)
        return 1
    num = numbering(pol)
    blob = compile_policy(pol, num)
    out = Path(args.output) if args.output else Path(args.policy).with_suffix(".bin")
    try:
        out.write_bytes(blob)
        if args.mapfile:
            Path(args.mapfile).write_text(write_map(pol, num, str(Path(args.policy).resolve()), str(out.resolve())))
    except OSError as e:
        raise _Fail(f"{e.filename}: {e.strerror}") from None
    print(f"{out}: {len(blob)} bytes, policy {pol.name!r} {pol.version}")
    return 0


def _names(m: MapInfo | None, b: Blob) -> tuple[list[str], list[str], dict[int, str]]:
    m = m or MapInfo()
    chw = [m.chwall_types.get(j, "") for j in range(b.chwall.types)]
    ste = [m.ste_types.get(j, "") for j in range(b.ste.types)]
    rows = {0: "__UNLABELED__"} | m.vm_rows | m.res_rows
    return chw, ste, rows


def _row_line(i: int, row: bytes, types: list[str], label: str) -> str:
    cells = row.translate(bytes.maketrans(b"\0\1", b"01")).decode()
    named = [types[j] or str(j) for j, c in enumerate(row) if c]
    return f"    {i:5d} {label:<24} {cells}  {{{', '.join(named)}}}"


def cmd_dump(args: argparse.Namespace) -> int:
    b = _load_blob(args.blob)
    m = _load_map(args.mapfile)
    if args.json:
        j = b.to_json()
        if m is not None:
            chw, ste, rows = _names(m, b)
            j["names"] = {"chwall_types": chw, "ste_types": ste, "rows": {str(k): v for k, v in sorted(rows.items())}}
        json.dump(j, sys.stdout, indent=1)
        print()
        return 0
    chw, ste, rows = _names(m, b)
    o = []
    o.append(f"ACM policy {b.name!r}, {b.size} bytes, policy_version 4, magic 0x0001debc")
    o.append(
        f"  header: policy_reference_offset 60, primary {CODE_NAMES[b.primary]} @ {b.primary_off}, "
        f"secondary {CODE_NAMES[b.secondary]} @ {b.secondary_off}"
    )
    o.append(f"  xml version {b.xml_version[0]}.{b.xml_version[1]}, xml hash {b.xml_hash.hex()}")
    o.append("  loadable: yes" if b.loadable else f"  loadable: NO ({b.not_loadable_reason})")
    c = b.chwall
    o.append(
        f"CHWALL section @ {c.offset} ({c.size} bytes): {c.types} types, {c.ssidrefs} ssidrefs, {c.sets} conflict sets"
    )
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
    if b.ext is not None:
        e = b.ext
        held = [k for k, per_row in e.targets.items() if any(per_row)]
        o.append(f"moat extension v{e.version} @ {e.offset} ({e.size} bytes), {e.sections} sections: permissions "
                 f"of {e.rows} VM rows" + (f"; target sections: {', '.join(held)}" if held else ""))
        for i in range(e.rows):
            if not e.flags[i]:
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
            o.append(f"    {i:5d} {rows.get(i, ''):<24} " + "; ".join(parts))
    else:
        o.append("no moat extension")
    print("\n".join(o))
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    v = _view(args.policy, args.mapfile)
    labs = sorted(v.labels.values(), key=lambda lab: lab.ste_row)
    if args.json:
        json.dump(
            [
                {
                    "name": lab.name,
                    "kind": lab.kind,
                    "ssidref": lab.ssidref,
                    "ste_row": lab.ste_row,
                    "chwall_row": lab.chwall_row,
                    "ste_types": sorted(lab.ste),
                    "chwall_types": sorted(lab.chwall),
                    "permissions": sorted(lab.perms),
                    "may_create": sorted(lab.create),
                    "targets": {k: sorted(v) for k, v in lab.targets.items()},
                }
                for lab in labs
            ],
            sys.stdout,
            indent=1,
        )
        print()
        return 0
    print(f"{'ssidref':<10}  {'kind':<8}  label")
    for lab in labs:
        tag = " (bootstrap)" if lab.name == v.bootstrap and lab.kind == "vm" else ""
        print(f"{lab.ssidref:#010x}  {lab.kind:<8}  {lab.name}{tag}")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    v = _view(args.policy, args.mapfile)
    try:
        r = analysis.query(v, args.label_a, args.label_b)
    except KeyError as e:
        raise _Fail(f"no label {e.args[0]!r} in {args.policy} (see `moat policy labels`)") from None
    if args.json:
        json.dump(r, sys.stdout, indent=1)
        print()
        return 0
    a, b = r["a"], r["b"]
    if r["share"]:
        print(
            f"share: yes: {a} and {b} share STE type{'s' if len(r['shared_ste_types']) > 1 else ''} "
            f"{', '.join(r['shared_ste_types'])} (event channels and grants allowed)"
        )
    else:
        print(f"share: no: {a} and {b} have no STE type in common (event channels and grants denied)")
    if r["conflict"]:
        print("conflict: yes")
        for why in r["a_blocks_b"]:
            print(f"  {b} cannot start while {a} runs: {why}")
        for why in r["b_blocks_a"]:
            print(f"  {a} cannot start while {b} runs: {why}")
    else:
        print(f"conflict: no: {a} and {b} may run at the same time")
    for subj, obj, may in ((a, b, r["a_may_on_b"]), (b, a, r["b_may_on_a"])):
        if may:
            print(f"control: {subj} may {', '.join(may)} domains labelled {obj}")
        else:
            print(f"control: {subj} may do nothing to domains labelled {obj}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    old = _view(args.old, args.old_map)
    new = _view(args.new, args.new_map)
    d = analysis.diff(old, new)
    if args.json:
        json.dump(d, sys.stdout, indent=1)
        print()
        return 0
    print(f"--- {args.old} ({old.name} {old.version})")
    print(f"+++ {args.new} ({new.name} {new.version})")
    for key, title in (
        ("labels_removed", "labels removed (domains with them must go first)"),
        ("labels_added", "labels added"),
    ):
        if d[key]:
            print(f"{title}:")
            for n in d[key]:
                print(f"  {n}")
    sections = (
        ("sharing_lost", "sharing REVOKED (channels/grants between these will be refused or revoked)"),
        ("sharing_gained", "sharing granted"),
        ("conflicts_added", "new Chinese Wall conflicts (cannot run together any more)"),
        ("conflicts_removed", "conflicts removed"),
    )
    for key, title in sections:
        if d[key]:
            print(f"{title}:")
            for a, b in d[key]:
                print(f"  {a} <-> {b}")
    for pc in d["permissions_changed"]:
        parts = [f"-{x}" for x in pc["lost"]] + [f"+{x}" for x in pc["gained"]]
        for k, labels in pc["targets_lost"].items():
            parts += [f"-{k}:{x}" for x in labels]
        for k, labels in pc["targets_gained"].items():
            parts += [f"+{k}:{x}" for x in labels]
        print(f"permissions of {pc['label']}: {' '.join(parts)}")
    if not any(d[k] for k in d):
        print("no change in labels, sharing, conflicts or permissions")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    pol = _load_source(args.policy)
    text = to_xml(pol) if args.to == "xml" else to_toml(pol)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
