# SPDX-License-Identifier: MIT
"""Pictures with Graphviz (docs/networking.md, "Pictures"): who may talk to whom.

policy_graph() draws a policy: one node per label (VM labels as boxes, resource labels as notes),
an undirected green edge between two labels that may share (their common STE types on it), a red
dashed edge between two VM labels that may not run side by side (the Chinese Wall conflict set
that keeps them apart), and who may manage whom: for each permission that names the labels it acts
on (create, destroy, pause, read_state, foreign_evtchn, foreign_gnttab; policy extension v2), an
arrow of that permission's colour from the label to each label it acts on, or, when it acts on
every label, a line in the label's box instead of an arrow to everyone. The box also lists the
permissions that name no labels (load_policy) and the devices the label may be assigned.

links_graph() draws a scenario: one node per domain, filled with its label's colour, the switch
domains as 3D boxes, and one edge per [[link]] with the VLANs it carries (for a switch port; a
trunk carries several, in several colours) or the STE types its ends share; a link the policy
forbids is red and dashed.

Both build a graphviz.Digraph (the `graphviz` package writes the DOT); render() writes it as DOT
or runs Graphviz's `dot` (Debian package graphviz) for SVG or PNG.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import graphviz

from moat import outputs
from moat.errors import UserError
from moat.policy.analysis import View

if TYPE_CHECKING:
    from moat.bootpolicy import BootPolicy
    from moat.scenario import Scenario

FORMATS = ("dot", "svg", "png")
# Fill colours for labels (pastel, readable under black text), then for VLAN edges (darker).
LABEL_COLOURS = ("#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#fb9a99", "#ffff99", "#8dd3c7", "#fccde5",
                 "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
VLAN_COLOURS = ("#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#e31a1c", "#b15928", "#01665e", "#c51b7d")
SHARE_COLOUR = "#2e7d32"
CONFLICT_COLOUR = "#c62828"
FORBIDDEN_COLOUR = "#c62828"
# The permissions that name their targets (moat.policy.model.TARGETED), each with the verb on its
# arrows and its colour (blues and purples: apart from the green of sharing and the red of conflict).
MANAGE = {
    "create": ("creates", "#1565c0"),
    "destroy": ("destroys", "#6a1b9a"),
    "pause": ("pauses", "#00838f"),
    "read_state": ("reads state of", "#5c6bc0"),
    "foreign_evtchn": ("sets up event channels of", "#ad1457"),
    "foreign_gnttab": ("sets up the grant table of", "#4e342e"),
}


def format_for(output: Path | None, fmt: str | None) -> str:
    """The output format: --format, else the file's suffix (.dot/.gv, .svg, .png), else svg."""
    if fmt:
        if fmt not in FORMATS:
            raise UserError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
        return fmt
    if output is None:
        return "dot"
    suffix = output.suffix.lower().lstrip(".")
    return {"gv": "dot", "dot": "dot", "svg": "svg", "png": "png"}.get(suffix, "svg")


def render(g: graphviz.Digraph, output: Path | None, fmt: str) -> bytes:
    """The picture in fmt (DOT text, or what `dot` makes of it); written to output when given."""
    if fmt == "dot":
        data = g.source.encode()
    else:
        try:
            data = g.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise UserError("Graphviz's `dot` is not installed (apt-get install graphviz; ./moat "
                            "installs it)") from None
        except graphviz.CalledProcessError as exc:
            raise UserError(f"dot failed: {exc}") from None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        outputs.write_file(output, data)
    return data


def label_colours(names: list[str]) -> dict[str, str]:
    """A fill colour for each label, by its place in the sorted list (stable from run to run)."""
    return {name: LABEL_COLOURS[i % len(LABEL_COLOURS)] for i, name in enumerate(sorted(names))}


def _new_graph(name: str, title: str) -> graphviz.Digraph:
    g = graphviz.Digraph(name)
    g.attr(label=title, labelloc="t", fontname="Helvetica", fontsize="16", rankdir="LR", nodesep="0.5",
           ranksep="1.0")
    g.attr("node", fontname="Helvetica", fontsize="11", style="filled")
    g.attr("edge", fontname="Helvetica", fontsize="9")
    return g


# ---- the policy ----

def conflicts(view: View) -> dict[tuple[str, str], list[str]]:
    """Pairs of VM labels the Chinese Wall keeps apart, with the conflict sets that do it.

    Two labels conflict when one holds a type of a conflict set and the other holds a different
    type of the same set: whichever runs first bars the other.
    """
    out: dict[tuple[str, str], list[str]] = {}
    vms = sorted(n for n, lab in view.labels.items() if lab.kind == "vm" and lab.chwall)
    for a, b in itertools.combinations(vms, 2):
        ta, tb = view.labels[a].chwall, view.labels[b].chwall
        for set_name, types in view.conflict_sets:
            if any(x != y for x in ta & types for y in tb & types):
                out.setdefault((a, b), []).append(set_name)
    return out


def shares(view: View) -> dict[tuple[str, str], list[str]]:
    """Pairs of labels that may share (an event channel, a page), with their common STE types."""
    names = sorted(n for n, lab in view.labels.items() if lab.ste)
    out = {}
    for a, b in itertools.combinations(names, 2):
        common = sorted(view.labels[a].ste & view.labels[b].ste)
        if common:
            out[(a, b)] = common
    return out


def manages(view: View, shown: list[str]) -> tuple[dict[str, list[str]], list[tuple[str, str, str]]]:
    """Who may manage whom: per label, the permissions it holds over every VM label (drawn in its
    box), and (subject, permission, target) for the others (drawn as arrows), in MANAGE's order."""
    every = {n for n, lab in view.labels.items() if lab.kind == "vm"}
    over_all: dict[str, list[str]] = {}
    arrows = []
    for name in sorted(shown):
        lab = view.labels[name]
        for perm in MANAGE:
            targets = lab.targets.get(perm, frozenset())
            if not targets:
                continue
            if targets >= every and perm != "create":
                over_all.setdefault(name, []).append(perm)
                continue
            arrows += [(name, perm, t) for t in sorted(targets) if t in shown]
    return over_all, arrows


def policy_graph(view: View) -> graphviz.Digraph:
    """The policy's labels, who may share, who conflicts and who may manage whom."""
    legend = ", ".join(f"{verb} ({colour})" for verb, colour in MANAGE.values())
    g = _new_graph("policy", f"policy {view.name} {view.version}: green = may share (STE types), red dashed = "
                             f"Chinese Wall conflict, arrows = may manage: {legend}")
    shown = [n for n, lab in view.labels.items() if lab.ste or lab.chwall or lab.perms]
    colours = label_colours(shown)
    over_all, arrows = manages(view, shown)
    for name in sorted(shown):
        lab = view.labels[name]
        lines = [name]
        if lab.kind == "vm":
            lines.append(f"ssidref 0x{lab.ssidref:08x}")
        if lab.ste:
            lines.append("STE: " + ", ".join(sorted(lab.ste)))
        if lab.chwall:
            lines.append("CHWALL: " + ", ".join(sorted(lab.chwall)))
        if name in over_all:
            lines.append("over every label: " + ", ".join(over_all[name]))
        if "load_policy" in lab.perms:
            lines.append("may: load_policy")
        devices = sorted(p.removeprefix("device:") for p in lab.perms if p.startswith("device:"))
        if devices:
            lines.append("devices: " + ", ".join(devices))
        attrs = {"fillcolor": colours[name], "shape": "box" if lab.kind == "vm" else "note"}
        if name == view.bootstrap:
            attrs.update(peripheries="2", penwidth="2")
        g.node(name, "\\n".join(lines), **attrs)
    for (a, b), common in shares(view).items():
        resource = "resource" in (view.labels[a].kind, view.labels[b].kind)
        g.edge(a, b, label=", ".join(common), dir="none", color=SHARE_COLOUR, fontcolor=SHARE_COLOUR,
               penwidth="1" if resource else "2", **{"class": "share"})
    for (a, b), sets in conflicts(view).items():
        g.edge(a, b, label="conflict: " + ", ".join(sets), dir="none", style="dashed", color=CONFLICT_COLOUR,
               fontcolor=CONFLICT_COLOUR, constraint="false", **{"class": "conflict"})
    for subj, perm, target in arrows:
        verb, colour = MANAGE[perm]
        g.edge(subj, target, label=verb, color=colour, fontcolor=colour, style="bold", constraint="false",
               **{"class": f"manage-{perm}"})
    return g


# ---- a scenario's links ----

def links_graph(scen: Scenario, pol: BootPolicy) -> graphviz.Digraph:
    """The scenario's domains (by label), its links, the switches and the VLANs each port carries."""
    from moat import links as links_mod

    labels = links_mod.domain_labels(scen, pol)
    resolved = links_mod.resolve(scen, pol, refuse_forbidden=False)
    stem = scen.path.stem if scen.path else "scenario"
    g = _new_graph("links", f"{stem}: domains by label, links and VLANs (policy {pol.name})")
    colours = label_colours(sorted(set(labels)))
    switches = {i for i, d in enumerate(scen.domains) if d.image_name == links_mod.SWITCH_IMAGE}
    for i, dom in enumerate(scen.domains):
        attrs = {"fillcolor": colours[labels[i]], "shape": "box3d" if i in switches else "box"}
        kind = "switch" if i in switches else dom.image_name
        g.node(dom.name, f"{dom.name}\\n{labels[i]}\\n({kind})", **attrs)
    vlan_colours: dict[int, str] = {}
    for r in resolved:
        a, b = scen.domains[r.granter].name, scen.domains[r.mapper].name
        on_switch = r.granter in switches or r.mapper in switches
        # A switch is transparent: only the member's address matters on its links.
        macs = (links_mod.format_mac(r.mapper_mac if r.granter in switches else r.granter_mac) if on_switch
                else f"{links_mod.format_mac(r.granter_mac)} - {links_mod.format_mac(r.mapper_mac)}")
        if not r.allowed:
            g.edge(a, b, label=f"link {r.index}: REFUSED\n{r.labels[0]} and {r.labels[1]} share no STE type",
                   dir="none", style="dashed", color=FORBIDDEN_COLOUR, fontcolor=FORBIDDEN_COLOUR, penwidth="2",
                   **{"class": "forbidden"})
            continue
        if on_switch:
            vids = [v for t in r.shared if (v := links_mod.vlan_id(pol, t)) is not None]
            for v in vids:
                vlan_colours.setdefault(v, VLAN_COLOURS[len(vlan_colours) % len(VLAN_COLOURS)])
            names = ", ".join(f"VLAN {links_mod.vlan_id(pol, t)} ({t})" for t in r.shared)
            port = "trunk" if len(vids) > 1 else "access"
            g.edge(a, b, label=f"link {r.index}: {names}, {port}\n{macs}", dir="none", penwidth="2",
                   color=":".join(vlan_colours[v] for v in vids) or "black", **{"class": "vlan"})
        else:
            g.edge(a, b, label=f"link {r.index}: shares {', '.join(r.shared)}\n{macs}", dir="none", penwidth="2",
                   color=SHARE_COLOUR, **{"class": "link"})
    return g
