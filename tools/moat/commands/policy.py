# SPDX-License-Identifier: MIT
"""``moat policy``: compile, check, dump, query, labels, diff (and convert) ACM policies.

Exit statuses, as every moat command: 0 done (check: the policy is clean); 1 the policy itself
fails (errors in the source, a malformed blob); 3 moat could not do what was asked (a file it
cannot read or write, a wrong kind of file, an unknown label, bad arguments). No traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from moat import outputs
from moat.errors import UserError
from moat.paths import build_dir, display
from moat.policy import analysis, is_blob, read_policy_bytes, report
from moat.policy.binary import Blob, BlobError, compile_policy, decode
from moat.policy.mapfile import MapError, MapInfo, read_map, write_map
from moat.policy.model import Diagnostic, Policy, PolicyReadError, numbering, parse_version
from moat.policy.validate import check, did_you_mean, fatal
from moat.policy.writers import to_toml, to_xml

SETPOLICY_MAX = 4 * 1024 * 1024  # ACM_MAX_SETPOLICY_SIZE: the largest blob a domain may load at run time

EPILOG = ("exit status: 0 done (check: no errors); 1 the policy has errors or the blob is malformed; "
          "3 a file cannot be read or written, is the wrong kind, or a label is unknown")

DESCRIPTION = """\
Xen ACM policies (XML, validated against Xen's schema, or moat's TOML; docs/policy-language.md)
and the binary the hypervisor loads (docs/policy-format.md).

reads:  policy sources (.xml, .toml), binaries (.bin) and their map files (.map)
writes: compile: the binary (default build/policies/<name>.bin) and --map; convert: -o or stdout
"""


class PolicyFailed(Exception):
    """The policy itself fails (its diagnostics are printed already): exit status 1."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("policy", help="compile, check and inspect ACM security policies", description=DESCRIPTION,
                       epilog=EPILOG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="policy_cmd", metavar="COMMAND")
    sp.required = True

    def command(name: str, fn: Any, help_line: str) -> argparse.ArgumentParser:
        about = help_line[0].upper() + help_line[1:] + "."
        c: argparse.ArgumentParser = sp.add_parser(name, help=help_line, description=about, epilog=EPILOG,
                                                   allow_abbrev=False)
        c.set_defaults(func=_guard(fn))
        return c

    c = command("compile", cmd_compile, "compile a policy to the binary the hypervisor loads")
    c.add_argument("policy", type=Path, help="policy source (.xml or .toml)")
    c.add_argument("-o", "--output", type=Path, help="binary to write (default build/policies/<name>.bin)")
    c.add_argument("--map", dest="mapfile", type=Path, help="also write the label/type map file")
    _check_options(c)

    k = command("check", cmd_check, "validate a policy and print every problem as file:line: message")
    k.add_argument("policy", type=Path, help="policy source (.xml or .toml)")
    k.add_argument("--json", action="store_true", help="print the findings and the summary as JSON")
    _check_options(k)

    d = command("dump", cmd_dump, "decode and validate a binary policy")
    d.add_argument("blob", type=Path, help="binary policy (ours or Xen's)")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("--map", dest="mapfile", type=Path, help="map file to name labels and types")

    q = command("query", cmd_query, "may two labels share, do they conflict, and through which types")
    q.add_argument("policy", type=Path, help="policy source or binary")
    q.add_argument("label_a")
    q.add_argument("label_b")
    q.add_argument("--map", dest="mapfile", type=Path, help="map file for a binary")
    q.add_argument("--json", action="store_true")

    la = command("labels", cmd_labels, "list labels with their ssidrefs")
    la.add_argument("policy", type=Path, help="policy source or binary")
    la.add_argument("--map", dest="mapfile", type=Path, help="map file for a binary")
    la.add_argument("--json", action="store_true")

    df = command("diff", cmd_diff, "what changing from OLD to NEW grants and revokes")
    df.add_argument("old", type=Path)
    df.add_argument("new", type=Path)
    df.add_argument("--old-map", type=Path, help="map file for an OLD binary")
    df.add_argument("--new-map", type=Path, help="map file for a NEW binary")
    df.add_argument("--json", action="store_true")

    gr = command("graph", cmd_graph, "draw the policy with Graphviz: labels, sharing, conflicts, who creates whom")
    gr.description = ("Draw the policy (moat.graph): a node per label, green edges between labels that may share "
                      "(their STE types), red dashed edges between labels the Chinese Wall keeps apart, blue "
                      "arrows from a label to those it may create.")
    gr.add_argument("policy", type=Path, help="policy source or binary")
    gr.add_argument("--map", dest="mapfile", type=Path, help="map file for a binary")
    gr.add_argument("-o", "--output", type=Path, help="file to write (default: the DOT text on stdout)")
    gr.add_argument("--format", choices=("dot", "svg", "png"),
                    help="output format (default: from the file's suffix, else svg)")

    cv = command("convert", cmd_convert, "rewrite a policy as XML or TOML")
    cv.add_argument("policy", type=Path)
    cv.add_argument("--to", choices=("xml", "toml"), required=True)
    cv.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")


def _check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--xen-compat", action="store_true",
                   help="accept what Xen 4.1's compiler accepted (our extra checks become warnings)")
    p.add_argument("--old", type=Path, help="the policy (source or binary) this one updates: checks "
                                            "FromPolicy and version")


def _guard(fn: Any) -> Any:
    """A failing policy: exit status 1 (its problems are printed already)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args) or 0)
        except PolicyFailed as e:
            if str(e):
                print(f"moat policy: {e}", file=sys.stderr)
            return 1

    run.__name__ = fn.__name__
    return run


# ------------------------------------------------------------------ reading inputs


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise UserError(f"{path}: {e.strerror or e}") from None


def _load_source(path: Path, data: bytes | None = None, *, command: str = "") -> Policy:
    data = _read(path) if data is None else data
    if is_blob(data):
        raise UserError(f"{path} is a compiled policy (binary), and {command or 'this command'} reads a policy "
                        f"source (.xml or .toml); `moat policy dump {path}` decodes and validates a binary")
    try:
        return read_policy_bytes(data, str(path))
    except PolicyReadError as e:
        for d in e.diagnostics:
            print(d, file=sys.stderr)
        raise PolicyFailed(f"{path}: cannot read the policy") from None


def _load_blob(path: Path, data: bytes | None = None) -> Blob:
    data = _read(path) if data is None else data
    if not is_blob(data):
        head = data.lstrip()[:1]
        kind = "XML" if head == b"<" else "TOML" if re.search(rb"^\s*\[policy\]", data, re.M) else None
        if kind is not None:
            raise UserError(f"{path} is a policy source ({kind}), not a binary; compile it first "
                            f"(`moat policy compile {path}`), or use `moat policy check`, `labels` or `query`, "
                            "which read sources too")
    try:
        return decode(data)
    except BlobError as e:
        raise PolicyFailed(f"{path}: malformed policy binary: offset {e.offset} ({e.field}): {e.message}") from None


def _load_map(path: Path | None, blob: Blob, blob_path: Path) -> MapInfo | None:
    if path is None:
        return None
    try:
        m = read_map(_read(path).decode("utf-8", "replace"), str(path))
    except MapError as e:
        raise UserError(str(e)) from None
    why = _map_mismatch(m, blob)
    if why:
        raise UserError(f"{path} is not the map of {blob_path}: {why}; give the map `compile --map` wrote "
                        "with this binary")
    return m


def _map_mismatch(m: MapInfo, b: Blob) -> str | None:
    if m.name and m.name != b.name:
        return f"it is for policy {m.name!r}, the binary is policy {b.name!r}"
    if m.chwall_types and max(m.chwall_types) >= b.chwall.types:
        return f"it names {max(m.chwall_types) + 1} Chinese Wall types, the binary has {b.chwall.types}"
    if m.ste_types and max(m.ste_types) >= b.ste.types:
        return f"it names {max(m.ste_types) + 1} STE types, the binary has {b.ste.types}"
    rows = [*m.vm_rows, *m.res_rows]
    if rows and max(rows) >= b.ste.ssidrefs:
        return f"it names {max(rows) + 1} labels, the binary has {b.ste.ssidrefs}"
    return None


def _old_info(path: Path | None) -> tuple[str, tuple[int, int]] | None:
    if path is None:
        return None
    data = _read(path)
    if is_blob(data):
        b = _load_blob(path, data)
        return b.name, b.xml_version
    old = _load_source(path, data)
    v = parse_version(old.version)
    if v is None:
        raise PolicyFailed(f"{path}: the old policy's version {old.version!r} is not MAJOR.MINOR")
    return old.name, v


def _checked(args: argparse.Namespace, *, quiet: bool = False) -> tuple[Policy, list[Diagnostic], list[Diagnostic]]:
    """The policy, all its findings and those that stop it (printed unless quiet)."""
    pol = _load_source(args.policy, command=f"`moat policy {args.policy_cmd}`")
    diags = check(pol, _old_info(args.old))
    bad = fatal(diags, args.xen_compat)
    if not quiet:
        for d in diags:
            print(d if d in bad else Diagnostic(d.file, d.line, d.message, "warning"), file=sys.stderr)
        compat_only = [d for d in bad if d.level == "strict"]
        if compat_only:
            n = len(compat_only)
            print(f"moat policy: {n} of the {len(bad)} errors {'are' if n > 1 else 'is'} what Xen 4.1's compiler "
                  f"accepted; --xen-compat turns {'them' if n > 1 else 'it'} into warnings", file=sys.stderr)
    return pol, diags, bad


def _view(path: Path, mapfile: Path | None) -> analysis.View:
    data = _read(path)
    if is_blob(data):
        b = _load_blob(path, data)
        return analysis.from_blob(b, _load_map(mapfile, b, path))
    pol = _load_source(path, data)
    bad = fatal(check(pol), xen_compat=True)
    if bad:
        for d in bad:
            print(d, file=sys.stderr)
        raise PolicyFailed(f"{path}: the policy has errors (see `moat policy check {path}`)")
    return analysis.from_policy(pol)


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=1)
    print()


# ------------------------------------------------------------------ commands


def _summary(pol: Policy) -> dict[str, Any]:
    num = numbering(pol)
    return {"name": pol.name, "version": pol.version, "ste_types": len(num.ste_types),
            "chwall_types": len(num.chwall_types), "conflict_sets": len(num.conflict_sets),
            "vm_labels": len(num.vm_rows) - 1, "resource_labels": len(num.res_rows),
            "permissions_extension": pol.uses_permissions()}


def cmd_check(args: argparse.Namespace) -> int:
    pol, diags, bad = _checked(args, quiet=args.json)
    size = None if bad else len(compile_policy(pol, numbering(pol)))
    too_big = size is not None and size > SETPOLICY_MAX
    if args.json:
        _print_json({
            "file": str(args.policy), "ok": not bad,
            "errors": [_diag_json(d) for d in bad],
            "warnings": [_diag_json(d) for d in diags if d not in bad],
            "policy": _summary(pol), "blob_size": size, "loadable_at_run_time": None if size is None else not too_big,
        })
        return 1 if bad else 0
    if bad:
        n = len(bad)
        print(f"{args.policy}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    if too_big:
        print(f"{args.policy}: warning: the compiled policy is {size} bytes: it can boot, but a domain cannot load "
              f"it at run time (ACMOP_setpolicy takes at most {SETPOLICY_MAX} bytes)", file=sys.stderr)
    s = _summary(pol)
    print(f"{args.policy}: OK: policy {pol.name!r} {pol.version}, {s['ste_types']} STE types, "
          f"{s['chwall_types']} Chinese Wall types, {s['conflict_sets']} conflict sets, {s['vm_labels']} VM labels, "
          f"{s['resource_labels']} resource labels" + (", permissions extension" if s["permissions_extension"] else ""))
    return 0


def _diag_json(d: Diagnostic) -> dict[str, Any]:
    return {"file": d.file, "line": d.line, "message": d.message,
            "xen_accepted": d.level == "strict", "level": d.level}


def _default_output(source: Path) -> Path:
    return build_dir() / "policies" / f"{source.stem}.bin"


def cmd_compile(args: argparse.Namespace) -> int:
    src: Path = args.policy
    out: Path = args.output or _default_output(src)
    inputs = [src, *([args.old] if args.old else [])]
    outputs.check_output(out, option="-o", inputs=inputs, make_parents=args.output is None)
    if args.mapfile is not None:
        outputs.check_output(args.mapfile, option="--map", inputs=[*inputs, out])
    pol, _, bad = _checked(args)
    if bad:
        raise PolicyFailed(f"{src}: not compiled")
    num = numbering(pol)
    blob = compile_policy(pol, num)
    files = [(out, blob)]
    if args.mapfile is not None:
        files.append((args.mapfile, write_map(pol, num, str(src.resolve()), str(out.resolve())).encode()))
    outputs.write_files(files)  # all or nothing
    print(f"{display(out)}: {len(blob)} bytes, policy {pol.name!r} {pol.version}")
    if len(blob) > SETPOLICY_MAX:
        print(f"moat policy: warning: {len(blob)} bytes is above the {SETPOLICY_MAX} a domain may load at run time "
              "(ACMOP_setpolicy); it can still be the boot policy", file=sys.stderr)
    return 0


def cmd_dump(args: argparse.Namespace) -> int:
    b = _load_blob(args.blob)
    m = _load_map(args.mapfile, b, args.blob)
    if args.json:
        _print_json(report.dump_json(b, m))
    else:
        print(report.dump_text(b, m))
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    v = _view(args.policy, args.mapfile)
    if args.json:
        _print_json(report.labels_json(v))
    else:
        print(report.labels_text(v))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    v = _view(args.policy, args.mapfile)
    try:
        r = analysis.query(v, args.label_a, args.label_b)
    except KeyError as e:
        name = str(e.args[0])
        raise UserError(f"no label {name!r} in {args.policy}{did_you_mean(name, v.labels)} "
                        f"(`moat policy labels {args.policy}` lists them)") from None
    if args.json:
        _print_json(r)
    else:
        print(report.query_text(r))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    blobs = {side: is_blob(_read(path)[:4]) for side, path in (("old", args.old), ("new", args.new))}
    for side, other in (("old", "new"), ("new", "old")):
        if blobs[side] and not blobs[other] and getattr(args, f"{side}_map") is None:
            raise UserError(f"{getattr(args, side)} is a binary, which holds no names, and {getattr(args, other)} "
                            f"is a source: give the binary's map with --{side}-map (written by `compile --map`) "
                            "to compare them")
    old = _view(args.old, args.old_map)
    new = _view(args.new, args.new_map)
    d = analysis.diff(old, new)
    if args.json:
        _print_json(d)
    else:
        print(report.diff_text(d, (str(args.old), old.name, old.version), (str(args.new), new.name, new.version)))
    return 0


def _licence(data: bytes) -> str | None:
    """The source's SPDX licence identifier, if it has one (Xen's policies have none)."""
    m = re.search(rb"SPDX-License-Identifier:\s*([A-Za-z0-9.+() -]+?)\s*(?:-->|\n|$)", data[:2048])
    return m.group(1).decode() if m else None


def cmd_graph(args: argparse.Namespace) -> int:
    from moat import graph

    output: Path | None = args.output
    fmt = graph.format_for(output, args.format)
    if output is None and fmt != "dot":
        raise UserError(f"--format {fmt} needs -o FILE")
    if output is not None:
        outputs.check_output(output, option="-o", inputs=[args.policy])
    data = graph.render(graph.policy_graph(_view(args.policy, args.mapfile)), output, fmt)
    if output is None:
        sys.stdout.write(data.decode())
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    if args.output is not None:
        outputs.check_output(args.output, option="-o", inputs=[args.policy])
    data = _read(args.policy)
    pol = _load_source(args.policy, data, command="`moat policy convert`")
    licence = _licence(data)
    text = to_xml(pol, licence=licence) if args.to == "xml" else to_toml(pol, licence=licence)
    if args.output is not None:
        outputs.write_file(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Kept for callers of the earlier stand-alone entry: the same as `moat` with these arguments."""
    from moat import cli

    return cli.main(argv)
