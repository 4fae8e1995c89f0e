# SPDX-License-Identifier: MIT
"""The pictures (docs/networking.md): `moat policy graph` and `moat links` draw with Graphviz. The
checks read the graph back through `dot -Tjson0` (so the DOT is also valid Graphviz input) and
look at its nodes and edges, not only at a file appearing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import graphviz
import pytest

from moat import cli, graph, manifest, scenario
from moat.errors import UserError
from moat.policy import read_policy
from moat.policy.analysis import from_policy

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "docs" / "examples" / "policies" / "demo.toml"
DEMO_UPDATE = ROOT / "docs" / "examples" / "policies" / "demo-update.toml"
NET_SWITCH = ROOT / "tests" / "scenarios" / "net_switch.toml"
FORBIDDEN = Path(__file__).resolve().parent / "scenarios" / "forbidden.toml"


@pytest.fixture(autouse=True)
def need_dot() -> None:
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is missing (./moat installs graphviz)", pytrace=False)


class Drawn:
    """A graph as Graphviz read it: nodes by name, edges as (tail, head, attributes)."""

    def __init__(self, dot_source: str) -> None:
        out = subprocess.run(["dot", "-Tjson0"], input=dot_source, capture_output=True, text=True, check=True)
        data: dict[str, Any] = json.loads(out.stdout)
        objects = data.get("objects", [])
        self.nodes = {o["name"]: o for o in objects}
        names = [o["name"] for o in objects]
        self.edges = [(names[e["tail"]], names[e["head"]], e) for e in data.get("edges", [])]

    def of_class(self, cls: str) -> dict[frozenset[str], dict[str, Any]]:
        return {frozenset((t, h)): e for t, h, e in self.edges if e.get("class") == cls}

    def arrows(self, cls: str) -> set[tuple[str, str]]:
        return {(t, h) for t, h, e in self.edges if e.get("class") == cls}


def policy_drawn(path: Path) -> Drawn:
    return Drawn(graph.policy_graph(from_policy(read_policy(path))).source)


def test_the_policy_graph_shows_sharing_conflicts_and_management():
    d = policy_drawn(DEMO)
    labels = {"system", "service", "switch", "tpm-agent", "manager-a", "manager-b", "customer-a", "customer-b",
              "customer-c", "disk-a", "disk-b", "disk-c"}
    assert set(d.nodes) == labels
    assert d.nodes["system"]["peripheries"] == "2"  # the bootstrap label
    assert d.nodes["disk-a"]["shape"] == "note" and d.nodes["customer-a"]["shape"] == "box"
    assert "over every label: destroy, pause, read_state" in d.nodes["system"]["label"]
    assert "may: load_policy" in d.nodes["system"]["label"]
    assert "devices: com2, tpm" in d.nodes["tpm-agent"]["label"]
    share = d.of_class("share")
    # Customers share with the system and the service, never with each other.
    assert share[frozenset(("customer-a", "service"))]["label"] == "customer-a"
    assert share[frozenset(("service", "system"))]["label"] == "customer-a, customer-b, system"
    assert not [pair for pair in share if pair <= {"customer-a", "customer-b", "customer-c"}]
    assert frozenset(("customer-c", "service")) not in share
    # The switch shares each customer's type with that customer: a VLAN each.
    assert {pair: e["label"] for pair, e in share.items() if "switch" in pair and pair & {"customer-a", "customer-b"}} \
        == {frozenset(("customer-a", "switch")): "customer-a", frozenset(("customer-b", "switch")): "customer-b"}
    # The one conflict set: A and C, the rival banks (customer A's manager is part of A).
    assert {pair: e["label"] for pair, e in d.of_class("conflict").items()} == {
        frozenset(("customer-a", "customer-c")): "conflict: bank-rivals",
        frozenset(("manager-a", "customer-c")): "conflict: bank-rivals"}
    # Who may manage whom, one arrow per permission and label it names (the policy extension's
    # per-target permissions): the system creates the customers' domains and the service's; each
    # customer's manager pauses, destroys and watches that customer's domains only; the service
    # watches customers A and B.
    assert d.arrows("manage-create") == {("system", n) for n in ("customer-a", "customer-b", "customer-c", "service")}
    for perm in ("destroy", "pause"):
        assert d.arrows(f"manage-{perm}") == {("manager-a", "customer-a"), ("manager-b", "customer-b")}
    assert d.arrows("manage-read_state") == {("manager-a", "customer-a"), ("manager-b", "customer-b"),
                                             ("service", "customer-a"), ("service", "customer-b")}
    assert not d.arrows("manage-foreign_evtchn") | d.arrows("manage-foreign_gnttab")


def test_the_graph_follows_the_policy():
    # The update takes customer A's type from the service label: that edge goes, the others stay.
    before, after = policy_drawn(DEMO).of_class("share"), policy_drawn(DEMO_UPDATE).of_class("share")
    assert set(before) - set(after) == {frozenset(("customer-a", "service")), frozenset(("disk-a", "service")),
                                        frozenset(("manager-a", "service"))}
    assert set(after) <= set(before)


def test_the_links_graph_shows_domains_links_switch_and_vlans(tmp_path: Path):
    scen = scenario.load(NET_SWITCH)
    d = Drawn(graph.links_graph(scen, manifest.scenario_policy(scen, tmp_path)).source)
    assert set(d.nodes) == {"switch", "a1", "a2", "b1", "b2", "svc"}
    assert d.nodes["switch"]["shape"] == "box3d"
    # Coloured by label: one customer, one colour.
    fill = {n: d.nodes[n]["fillcolor"] for n in d.nodes}
    assert fill["a1"] == fill["a2"] and fill["b1"] == fill["b2"]
    assert len({fill["a1"], fill["b1"], fill["svc"], fill["switch"]}) == 4
    assert "customer-a" in d.nodes["a1"]["label"]
    vlan = d.of_class("vlan")
    assert set(vlan) == {frozenset(("switch", m)) for m in ("a1", "a2", "b1", "b2", "svc")}
    assert vlan[frozenset(("switch", "a1"))]["label"].startswith("link 0: VLAN 1 (net-a), access")
    assert vlan[frozenset(("switch", "b2"))]["label"].startswith("link 3: VLAN 2 (net-b), access")
    trunk = vlan[frozenset(("switch", "svc"))]
    assert trunk["label"].startswith("link 4: VLAN 1 (net-a), VLAN 2 (net-b), trunk")
    vlan_a, vlan_b = vlan[frozenset(("switch", "a1"))]["color"], vlan[frozenset(("switch", "b1"))]["color"]
    assert vlan_a != vlan_b and trunk["color"] == f"{vlan_a}:{vlan_b}"  # both VLANs' colours
    assert not d.of_class("forbidden")


def test_a_forbidden_link_is_drawn_refused(tmp_path: Path):
    scen = scenario.load(FORBIDDEN)
    d = Drawn(graph.links_graph(scen, manifest.scenario_policy(scen, tmp_path)).source)
    (edge,) = d.of_class("forbidden").values()
    assert edge["style"] == "dashed" and "REFUSED" in edge["label"]
    assert "customer-a and customer-b share no STE type" in edge["label"]


def test_direct_links_show_the_shared_types(tmp_path: Path):
    scen = scenario.load(ROOT / "tests" / "scenarios" / "net_teardown.toml")
    d = Drawn(graph.links_graph(scen, manifest.scenario_policy(scen, tmp_path)).source)
    direct = d.of_class("link")
    assert set(direct) == {frozenset(("g1", "p1")), frozenset(("g2", "p2"))}
    assert direct[frozenset(("g1", "p1"))]["label"].startswith("link 2: shares shared")  # the default policy's type


@pytest.mark.parametrize("suffix,fmt,magic", [(".svg", None, b"<?xml"), (".png", None, b"\x89PNG"),
                                              (".out", "dot", b"digraph policy")])
def test_policy_graph_command_writes_each_format(tmp_path: Path, suffix: str, fmt: str | None, magic: bytes):
    out = tmp_path / f"demo{suffix}"
    argv = ["policy", "graph", str(DEMO), "-o", str(out)] + (["--format", fmt] if fmt else [])
    assert cli.main(argv) == 0
    data = out.read_bytes()
    assert data.startswith(magic)
    if suffix == ".svg":
        text = data.decode()
        # The drawing holds the graph's text (Graphviz writes '-' as &#45;).
        assert "conflict: bank&#45;rivals" in text and ">customer&#45;a<" in text


def test_policy_graph_prints_dot_without_a_file(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["policy", "graph", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph policy {")
    assert Drawn(out).nodes  # valid Graphviz input


def test_links_command_lists_and_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "links.png"
    assert cli.main(["links", str(NET_SWITCH), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    text = capsys.readouterr().out
    assert "link 4: switch (switch, 02:6d:" in text and "VLAN 1 (net-a), VLAN 2 (net-b), trunk port" in text


def test_links_command_fails_on_a_forbidden_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "f.svg"
    assert cli.main(["links", str(FORBIDDEN), "-o", str(out)]) == 1
    assert out.read_bytes().startswith(b"<?xml")  # drawn all the same, to show what is wrong
    assert "REFUSED" in capsys.readouterr().out


def test_format_comes_from_the_suffix():
    assert graph.format_for(Path("x.svg"), None) == "svg"
    assert graph.format_for(Path("x.PNG"), None) == "png"
    assert graph.format_for(Path("x.gv"), None) == "dot"
    assert graph.format_for(None, None) == "dot"
    assert graph.format_for(Path("x.svg"), "png") == "png"
    with pytest.raises(UserError):
        graph.format_for(None, "pdf")


def test_a_missing_dot_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def missing(*args: object, **kwargs: object) -> bytes:
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    with pytest.raises(UserError, match="apt-get install graphviz"):
        graph.render(graph.policy_graph(from_policy(read_policy(DEMO))), tmp_path / "x.svg", "svg")
