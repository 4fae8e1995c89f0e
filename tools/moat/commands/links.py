# SPDX-License-Identifier: MIT
"""`moat links SCENARIO`: a scenario's links (docs/networking.md): a table, and a picture with -o.

Each [[link]] as the tools resolve it: the two ends and their labels, the MAC addresses (given
or generated), and what the link carries: for a link to a switch domain the VLANs (one per STE
type both ends hold, VLAN id = the type's column + 1) and whether the port is an access port or a
trunk; for a direct link the shared types. A link the policy forbids is listed as REFUSED (and
drawn red): `moat run` would refuse the scenario, and this command exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moat import graph, links, manifest, outputs, paths, scenario
from moat.bootpolicy import BootPolicy
from moat.errors import UserError

DESCRIPTION = """\
List the [[link]] tables of a scenario as the tools resolve them (ends, labels, MAC addresses,
VLANs) and, with -o, draw the domains, links, switches and VLANs with Graphviz, coloured by label
(docs/networking.md).

reads:  SCENARIO and its policy (compiled under build/policies/ when it is a source)
writes: -o FILE (dot, svg or png), nothing otherwise
"""

EPILOG = """\
exit status: 0 every link is allowed; 1 the policy forbids a link (listed as REFUSED, drawn red);
3 moat could not do what was asked (a bad scenario, no Graphviz, an output it cannot write)
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("links", help="show a scenario's links, switches and VLANs (and draw them)",
                       description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", type=Path, metavar="SCENARIO")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="draw the picture into FILE")
    p.add_argument("--format", choices=graph.FORMATS,
                   help="picture format (default: from FILE's suffix, else svg)")
    p.set_defaults(func=run)


def describe(scen: scenario.Scenario, r: links.ResolvedLink, pol: BootPolicy) -> str:
    g, m = scen.domains[r.granter], scen.domains[r.mapper]
    ends = (f"link {r.index}: {g.name} ({r.labels[0]}, {links.format_mac(r.granter_mac)}) grants, "
            f"{m.name} ({r.labels[1]}, {links.format_mac(r.mapper_mac)}) maps")
    if not r.allowed:
        return f"{ends}: REFUSED: the labels share no STE type"
    if links.SWITCH_IMAGE in (g.image_name, m.image_name):
        vlans = [f"VLAN {links.vlan_id(pol, t)} ({t})" for t in r.shared]
        return f"{ends}: {', '.join(vlans)}, {'trunk' if len(vlans) > 1 else 'access'} port"
    return f"{ends}: shares {', '.join(r.shared)}"


def run(args: argparse.Namespace) -> int:
    if args.format and args.output is None:
        raise UserError("--format needs -o FILE (without it, moat links prints the table)")
    if args.output is not None:
        outputs.check_output(args.output, option="-o", inputs=[args.scenario])
    scen = scenario.load(args.scenario)
    pol = manifest.scenario_policy(scen, paths.build_dir())
    resolved = links.resolve(scen, pol, refuse_forbidden=False)
    print(f"{args.scenario}: {len(scen.domains)} domains, {len(resolved)} links, policy "
          f"{links.policy_display(pol)}")
    for r in resolved:
        print("  " + describe(scen, r, pol))
    if args.output is not None:
        fmt = graph.format_for(args.output, args.format)
        graph.render(graph.links_graph(scen, pol), args.output, fmt)
        print(f"moat links: wrote {args.output} ({fmt})", file=sys.stderr)
    refused = [r for r in resolved if not r.allowed]
    if refused:
        print(f"moat links: {len(refused)} link(s) the policy forbids: `moat run` refuses this scenario",
              file=sys.stderr)
        return 1
    return 0
