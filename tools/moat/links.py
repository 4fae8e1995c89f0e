# SPDX-License-Identifier: MIT
"""Links between a scenario's domains: the [[link]] tables (docs/networking.md).

    [[link]]
    ends = ["switch", "a-web"]          # two domains: the first grants the link's pages and
                                        # allocates its event channels, the second maps and binds
    macs = ["02:00:00:00:0a:01", ""]    # optional: each end's MAC address ("" or absent: generated)

parse() reads the tables (scenario.py calls it) and check_names() that both ends are domains of
the scenario. resolve() needs the compiled policy: every link's ends must share an STE type (the
hypervisor's MAC would refuse every bind and map otherwise, so the tools refuse the scenario first
and name both labels and the policy), no domain may be an end of more than 16 links, and MAC
addresses are unicast and unique. It also works out each link's VLANs: one per STE type both ends
hold (VLAN id = the type's column in the compiled policy + 1), which is what the hypervisor
publishes to the ends and what a switch domain separates traffic by.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moat.scenario import ScenarioError

if TYPE_CHECKING:
    from moat.bootpolicy import BootPolicy
    from moat.scenario import Scenario

MAX_LINKS = 256              # MANIFEST_MAX_LINKS
MAX_LINKS_PER_DOMAIN = 16    # START_MAX_LINKS
MAX_VLAN_TYPES = 64          # start_link.vlans is a 64-bit mask: STE types 0..63
SWITCH_IMAGE = "net_switch"  # the switch domain's image (images/net/net_switch)
_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


@dataclass(frozen=True)
class Link:
    ends: tuple[str, str]    # granter, mapper
    macs: tuple[str, str]    # "" = generate


@dataclass(frozen=True)
class ResolvedLink:
    index: int
    granter: int             # domain index in the scenario
    mapper: int
    granter_mac: bytes
    mapper_mac: bytes
    labels: tuple[str, str]  # the ends' labels (the ssidref in hex when the policy has no name for it)
    shared: tuple[str, ...]  # STE types both labels hold, in column order

    @property
    def allowed(self) -> bool:
        return bool(self.shared)


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes | None:
    """Six colon-separated hex octets, or None."""
    return bytes(int(x, 16) for x in text.split(":")) if _MAC.fullmatch(text) else None


def parse(path: Path, data: Any) -> list[Link]:
    """The [[link]] tables of a scenario file (names are checked by check_names)."""
    if not isinstance(data, list):
        raise ScenarioError(path, "link", "must be an array of tables ([[link]])")
    if len(data) > MAX_LINKS:
        raise ScenarioError(path, "link", f"{len(data)} links; at most {MAX_LINKS}")
    found = []
    for i, entry in enumerate(data):
        where = f"link[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(path, where, "must be a table")
        for key in entry:
            if key not in ("ends", "macs"):
                raise ScenarioError(path, f"{where}.{key}", "unknown key (known here: ends, macs)")
        ends = entry.get("ends")
        if (not isinstance(ends, list) or len(ends) != 2 or not all(isinstance(e, str) for e in ends)):
            raise ScenarioError(path, f"{where}.ends", "must be two domain names, "
                                                       "[\"granter\", \"mapper\"]")
        if ends[0] == ends[1]:
            raise ScenarioError(path, f"{where}.ends", f"both ends are {ends[0]!r}")
        macs = entry.get("macs", ["", ""])
        if (not isinstance(macs, list) or not 1 <= len(macs) <= 2
                or not all(isinstance(m, str) for m in macs)):
            raise ScenarioError(path, f"{where}.macs", "must be one or two MAC addresses "
                                                       "(\"\" to generate one)")
        macs = [*macs, ""][:2]
        for k, mac in enumerate(macs):
            if not mac:
                continue
            raw = parse_mac(mac)
            if raw is None:
                raise ScenarioError(path, f"{where}.macs[{k}]", f"{mac!r} is not a MAC address "
                                                                "like 02:00:00:00:00:01")
            if raw[0] & 1 or raw == bytes(6):
                raise ScenarioError(path, f"{where}.macs[{k}]", f"{mac} is not a unicast address "
                                                                "(zero, or the group bit is set)")
        found.append(Link(ends=(ends[0], ends[1]), macs=(macs[0], macs[1])))
    return found


def check_names(scen: Scenario) -> None:
    """Both ends of every link are domains of the scenario, and no domain has too many links."""
    names = {d.name for d in scen.domains}
    count: dict[str, int] = {}
    for i, link in enumerate(scen.links):
        for k, end in enumerate(link.ends):
            if end not in names:
                raise ScenarioError(scen.path or "scenario", f"link[{i}].ends[{k}]",
                                    f"{end!r} is not a domain of the scenario")
            count[end] = count.get(end, 0) + 1
            if count[end] > MAX_LINKS_PER_DOMAIN:
                raise ScenarioError(scen.path or "scenario", f"link[{i}].ends[{k}]",
                                    f"{end!r} is an end of more than {MAX_LINKS_PER_DOMAIN} links")


def generated_mac(scen: Scenario, index: int, end: int, attempt: int = 0) -> bytes:
    """A locally administered unicast address (02:6d:..), the same on every run of a scenario."""
    stem = scen.path.stem if scen.path else "scenario"
    seed = f"{stem}/link{index}/{scen.links[index].ends[end]}/{attempt}".encode()
    return bytes([0x02, 0x6D]) + hashlib.sha256(seed).digest()[:4]


def domain_labels(scen: Scenario, pol: BootPolicy) -> list[str]:
    """Each domain's label name (its ssidref in hex when the policy has no label for it)."""
    from moat.manifest import resolve_label

    out = []
    for i, dom in enumerate(scen.domains):
        ssidref = resolve_label(scen, i, dom, pol)
        out.append(pol.label_of(ssidref) or f"0x{ssidref:08x}")
    return out


def shared_types(pol: BootPolicy, a: str, b: str) -> tuple[str, ...]:
    """The STE types both labels hold, in column order."""
    both = set(pol.ste.get(a, ())) & set(pol.ste.get(b, ()))
    return tuple(t for t in pol.ste_columns if t in both)


def vlan_id(pol: BootPolicy, ste_type: str) -> int | None:
    """The VLAN id of an STE type: its column + 1; None beyond the 64 types a link can carry."""
    column = pol.ste_columns.index(ste_type)
    return column + 1 if column < MAX_VLAN_TYPES else None


def policy_display(pol: BootPolicy) -> str:
    from moat.paths import display

    return f"'{pol.name}' ({display(pol.source)})" if pol.name else display(pol.source)


def resolve(scen: Scenario, pol: BootPolicy, *, refuse_forbidden: bool = True) -> list[ResolvedLink]:
    """The scenario's links with domain indices, MAC addresses and shared types, checked.

    A link whose ends share no STE type is an error naming both labels and the policy, unless
    refuse_forbidden is False (tests build such a manifest by hand to see the hypervisor refuse it).
    """
    where = scen.path or "scenario"
    index = {d.name: i for i, d in enumerate(scen.domains)}
    labels = domain_labels(scen, pol) if scen.links else []
    taken: dict[bytes, str] = {}

    def claim(mac: bytes, owner: str, key: str) -> None:
        if mac in taken:
            raise ScenarioError(where, key, f"{format_mac(mac)} is also {taken[mac]}'s address")
        taken[mac] = owner

    # User-given addresses first, so a generated one never takes an address someone asked for.
    for i, link in enumerate(scen.links):
        for k, mac in enumerate(link.macs):
            if mac:
                claim(parse_mac(mac) or b"", f"link[{i}] end {link.ends[k]}", f"link[{i}].macs[{k}]")
    out = []
    for i, link in enumerate(scen.links):
        macs: list[bytes] = []
        for k, mac in enumerate(link.macs):
            if mac:
                macs.append(parse_mac(mac) or b"")
                continue
            attempt = 0
            while (raw := generated_mac(scen, i, k, attempt)) in taken:
                attempt += 1
            claim(raw, f"link[{i}] end {link.ends[k]}", f"link[{i}].macs[{k}]")
            macs.append(raw)
        g, m = index[link.ends[0]], index[link.ends[1]]
        shared = shared_types(pol, labels[g], labels[m])
        if not shared and refuse_forbidden:
            raise ScenarioError(where, f"link[{i}]",
                                f"{link.ends[0]!r} (label {labels[g]}) and {link.ends[1]!r} (label "
                                f"{labels[m]}) share no STE type in policy {policy_display(pol)}: "
                                "the policy does not let them share, so they cannot be linked")
        out.append(ResolvedLink(i, g, m, macs[0], macs[1], (labels[g], labels[m]), shared))
    return out
