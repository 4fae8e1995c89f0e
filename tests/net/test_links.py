# SPDX-License-Identifier: MIT
"""Links in scenarios and the boot manifest (docs/networking.md): [[link]] parsing, the tools'
policy check (a link across customers is refused, naming both labels and the policy), MAC
addresses, the shared STE types a link carries, the manifest's link records and their C layout,
and, in QEMU, the hypervisor refusing a forbidden link that was written into a manifest by hand."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from moat import links, manifest, paths, scenario
from moat.include_roots import GUEST, include_flags
from moat.pytest_plugin import Booter, assert_status, log_tail
from tests.domains import domlog
from tests.mac import maclog

from . import netlog

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "scenarios"
NET_POLICY = SCENARIOS / "net_policies" / "net.toml"
FORBIDDEN = Path(__file__).resolve().parent / "scenarios" / "forbidden.toml"


def load(tmp_path: Path, text: str) -> scenario.Scenario:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return scenario.load(path)


def two_domains(labels: tuple[str, str] = ("customer-a", "customer-a"), link: str = "") -> str:
    return (f"policy = '{NET_POLICY}'\n"
            f"[[domain]]\nname = 'x'\nimage = 'net_node'\nlabel = '{labels[0]}'\n"
            f"[[domain]]\nname = 'y'\nimage = 'net_node'\nlabel = '{labels[1]}'\n"
            + (link or "[[link]]\nends = ['x', 'y']\n"))


def test_layout_matches_the_c_headers(tmp_path: Path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    checks = [
        ("sizeof(struct manifest_link)", manifest.LINK.size),
        ("offsetof(struct manifest_header, link_count)", 28),
        ("sizeof(struct manifest_header)", manifest.HEADER.size),
        ("MANIFEST_VERSION", manifest.MANIFEST_VERSION),
        ("MANIFEST_MAX_LINKS", manifest.MANIFEST_MAX_LINKS),
        ("START_MAX_LINKS", links.MAX_LINKS_PER_DOMAIN),
        ("LINK_MAC_LEN", 6),
        ("sizeof(struct start_link)", 72),
        ("offsetof(struct start_link, vlans)", 8),
        ("offsetof(struct start_link, mac)", 24),
        ("offsetof(struct start_link, peer_name)", 40),
        ("sizeof(struct start_info) <= GUEST_PAGE_SIZE", 1),
        # a link's pages fit the refs the hypervisor sets aside for it
        ("NETIF_PAGES <= LINK_REF_STRIDE", 1),
        ("sizeof(struct netif_ctrl) <= GUEST_PAGE_SIZE", 1),
        ("sizeof(union netif_slot)", 8),
    ]
    src = tmp_path / "layout.c"
    src.write_text("#include <stddef.h>\n#include <public/manifest.h>\n#include <public/hv.h>\n"
                   "#include <moat/netif.h>\n" + "".join(
                       f"_Static_assert({expr} == {value}, \"{expr}\");\n" for expr, value in checks))
    proc = subprocess.run(["gcc", "-std=c11", "-fsyntax-only", *include_flags(GUEST, ROOT),
                           str(src)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("text,key,message", [
    ("[[link]]\nends = ['x']\n", "link[0].ends", "two domain names"),
    ("[[link]]\nends = ['x', 'x']\n", "link[0].ends", "both ends"),
    ("[[link]]\nends = ['x', 'nobody']\n", "link[0].ends[1]", "not a domain"),
    ("[[link]]\nends = ['x', 'y']\nspeed = 10\n", "link[0].speed", "unknown key"),
    ("[[link]]\nends = ['x', 'y']\nmacs = ['02:00:00:00:00']\n", "link[0].macs[0]", "not a MAC address"),
    ("[[link]]\nends = ['x', 'y']\nmacs = ['', '03:00:00:00:00:01']\n", "link[0].macs[1]", "not a unicast"),
    ("[[link]]\nends = ['x', 'y']\nmacs = ['00:00:00:00:00:00']\n", "link[0].macs[0]", "not a unicast"),
    ("[[link]]\nends = ['x', 'y']\nmacs = ['', '', '']\n", "link[0].macs", "one or two"),
], ids=["one-end", "same-end", "unknown-domain", "unknown-key", "short-mac", "group-mac", "zero-mac",
        "three-macs"])
def test_link_errors_name_the_key(tmp_path: Path, text: str, key: str, message: str):
    with pytest.raises(scenario.ScenarioError) as info:
        load(tmp_path, two_domains(link=text))
    assert info.value.key == key
    assert message in info.value.message


def test_link_must_be_tables(tmp_path: Path):
    with pytest.raises(scenario.ScenarioError, match="array of tables") as info:
        load(tmp_path, "link = 1\n" + two_domains(link=" "))
    assert info.value.key == "link"


def test_a_domain_has_at_most_16_links(tmp_path: Path):
    doms = "".join(f"[[domain]]\nname = 'd{i}'\nimage = 'net_node'\n" for i in range(18))
    text = doms + "".join(f"[[link]]\nends = ['d0', 'd{i}']\n" for i in range(1, 18))
    with pytest.raises(scenario.ScenarioError, match="more than 16 links") as info:
        load(tmp_path, text)
    assert info.value.key == "link[16].ends[0]"


def test_the_tools_refuse_a_link_across_customers(tmp_path: Path):
    scen = load(tmp_path, two_domains(("customer-a", "customer-b")))
    with pytest.raises(scenario.ScenarioError) as info:
        manifest.encode(scen, manifest.scenario_policy(scen, tmp_path))
    err = info.value
    assert err.key == "link[0]"
    # Both ends, both labels and the policy are named.
    for part in ("'x' (label customer-a)", "'y' (label customer-b)", "share no STE type",
                 "policy 'moat-net-tests'", "net.toml"):
        assert part in err.message, err.message
    # The same link between two domains of one customer is fine.
    manifest.encode(load(tmp_path, two_domains()), manifest.scenario_policy(scen, tmp_path))


def test_run_refuses_the_forbidden_scenario(tmp_path: Path):
    scen = scenario.load(FORBIDDEN)
    with pytest.raises(scenario.ScenarioError, match=r"'a1' \(label customer-a\) and 'b1' \(label customer-b\)"):
        manifest.encode(scen, manifest.scenario_policy(scen, tmp_path))


def test_links_round_trip_through_the_manifest(tmp_path: Path):
    scen = load(tmp_path, two_domains(link="[[link]]\nends = ['y', 'x']\nmacs = ['02:00:00:00:00:07']\n"))
    blob = manifest.encode(scen, manifest.scenario_policy(scen, tmp_path))
    header, recs, recorded = manifest.decode_all(blob)
    assert header.version == 5 and header.link_count == 1
    assert header.total_size == len(blob) == 40 + 2 * 344 + 24
    assert [r.name for r in recs] == ["x", "y"]
    (link,) = recorded
    assert (link.granter, link.mapper) == (1, 0)  # the first end grants: y
    assert link.granter_mac == bytes.fromhex("020000000007")
    assert link.mapper_mac[0] == 0x02 and link.mapper_mac != link.granter_mac  # generated


def test_generated_macs_are_stable_unicast_and_unique(tmp_path: Path):
    scen = scenario.load(SCENARIOS / "net_switch.toml")
    pol = manifest.scenario_policy(scen, tmp_path)
    first, again = links.resolve(scen, pol), links.resolve(scen, pol)
    assert first == again
    macs = [m for r in first for m in (r.granter_mac, r.mapper_mac)]
    assert len(set(macs)) == len(macs) == 10
    assert all(m[0] == 0x02 for m in macs)  # locally administered, not a group address


def test_a_mac_used_twice_is_refused(tmp_path: Path):
    text = two_domains(link="[[link]]\nends = ['x', 'y']\nmacs = ['02:00:00:00:00:01', '02:00:00:00:00:01']\n")
    scen = load(tmp_path, text)
    with pytest.raises(scenario.ScenarioError, match="also link"):
        manifest.encode(scen, manifest.scenario_policy(scen, tmp_path))


def test_vlans_are_the_shared_ste_types(tmp_path: Path):
    scen = scenario.load(SCENARIOS / "net_switch.toml")
    pol = manifest.scenario_policy(scen, tmp_path)
    got = {(scen.domains[r.mapper].name): (r.shared, [links.vlan_id(pol, t) for t in r.shared])
           for r in links.resolve(scen, pol)}
    # Column order of the policy's STE types: net-a (VLAN 1), net-b (VLAN 2), system (VLAN 3).
    assert got == {"a1": (("net-a",), [1]), "a2": (("net-a",), [1]), "b1": (("net-b",), [2]),
                   "b2": (("net-b",), [2]), "svc": (("net-a", "net-b"), [1, 2])}


def test_the_hypervisor_publishes_links_with_their_types(run_scenario):
    result = run_scenario("net_direct")
    lines = result.lines
    assert "link 0: 0:left <-> 1:right, shared STE types 0x1" in lines, log_tail(result)
    log = domlog.parse(result.console)
    assert any(line.startswith("link 0: connected to right as granter, 10.0.0.1 02:6d:")
               for line in log.named("left").lines), log_tail(result)
    assert any(line.startswith("link 0: connected to left as mapper, 10.0.0.2 02:6d:")
               for line in log.named("right").lines), log_tail(result)


def test_the_hypervisor_refuses_a_forbidden_link_built_by_hand(boot: Booter):
    """A manifest written without the tools' check: the link is published, but the MAC refuses
    the granter's event channel and the mapper's grant map, and nothing is left behind. Under
    -icount: each end lingers 2 s after its refusal (so that the other's attempt meets a live
    domain), which idle CPUs skip there instead of waiting it out."""
    scen = scenario.load(FORBIDDEN)
    mods = manifest.build_boot_modules(scen, paths.build_dir(), refuse_forbidden_links=False)
    result = boot(modules=mods, timeout=90, icount=True)
    assert_status(result, "SUCCESS")
    tail = log_tail(result)
    assert "link 0: 0:a1 <-> 1:b1: their labels share no STE type; the MAC will refuse it" in result.lines, tail
    a, b = 0x00030003, 0x00040004  # customer-a, customer-b in net.toml
    # Each domain meets its own denial; on two CPUs they run at once, so the two lines come in
    # either order: both, exactly these, and nothing else.
    assert sorted(maclog.denials(result.console), key=lambda d: d.hook) == [
        maclog.Deny("evtchn_unbound", "0:a1", "1:b1", None, a, b),
        maclog.Deny("grant_map", "1:b1", "0:a1", None, b, a),
    ], tail
    log = domlog.parse(result.console)
    assert "link 0 to b1: offering it was refused: -5 (as the policy intends)" in log.named("a1").lines, tail
    assert "link 0 to a1: mapping it was refused: -4 (as the policy intends)" in log.named("b1").lines, tail
    assert log.named("a1").result == log.named("b1").result == "SUCCESS", tail
    assert not netlog.fails(log.named("a1")) and not netlog.fails(log.named("b1"))
    assert log.frames_stop == log.frames_boot, tail


def _spoil_link(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    """The manifest with one field of its first link record changed, and its CRC fixed."""
    b = bytearray(blob)
    header, _, _ = manifest.decode_all(blob)
    struct.pack_into(fmt, b, manifest.HEADER.size + header.domain_count * manifest.DOMAIN.size + offset, value)
    struct.pack_into("<I", b, 4, zlib.crc32(b[8:]))
    return bytes(b)


@pytest.mark.parametrize(("offset", "fmt", "value", "reason"), [
    (2, "<H", 0, "a link names a domain record that does not exist, or the same one twice"),
    (0, "<H", 7, "a link names a domain record that does not exist, or the same one twice"),
    (4, "<B", 0x03, "a link's MAC addresses are not two different unicast addresses"),
    (16, "<I", 1, "a link has unknown flags"),
], ids=["same-end", "no-such-domain", "group-mac", "flags"])
def test_the_hypervisor_refuses_malformed_link_records_whole(boot: Booter, tmp_path: Path, offset: int, fmt: str,
                                                             value: int, reason: str):
    scen = scenario.load(SCENARIOS / "net_direct.toml")
    mods = manifest.build_boot_modules(scen, paths.build_dir())
    bad = tmp_path / "manifest"
    bad.write_bytes(_spoil_link(mods[0][0].read_bytes(), offset, fmt, value))
    result = boot(modules=[(bad, "manifest"), *mods[1:]])
    assert_status(result, "FAILURE")
    assert f"manifest: refused: {reason}" in result.lines, log_tail(result)
    assert not any(" created: " in line or line.startswith(("(d", "link ")) for line in result.lines)


def test_a_link_carries_the_shared_ste_types_below_64_only(boot: Booter, tmp_path: Path):
    """start_link.vlans is a 64-bit mask: a policy of 65 STE types whose two labels share only the
    64th and the 65th (columns 63 and 64) publishes a link of column 63 alone, bit 63 and no
    other (column 64 has no bit; shifting by 64 would not give 0 but wrap to bit 0). The names
    are zero-padded: the compiler orders the columns by name. y, the mapper, pings and says bye;
    x, the granter, waits for the bye: a mapper stops reading the granter's rings once it closes,
    so a granter that said bye and closed at once could take the link away before the bye was
    read (seen with the suite on one core beside a busy loop)."""
    types = [f"t{i:02d}" for i in range(65)]
    policy = tmp_path / "wide.toml"
    policy.write_text(
        "[policy]\nname = \"wide\"\nversion = \"1.0\"\nbootstrap = \"system\"\n"
        f"[types]\nste = {types!r}\nchwall = [\"any\"]\n"
        f"[[vm]]\nname = \"system\"\nste = {types!r}\nchwall = [\"any\"]\n"
        "permissions = { create = [\"system\", \"high\"], destroy = true, read_state = true }\n"
        "[[vm]]\nname = \"high\"\nste = [\"t63\", \"t64\"]\nchwall = [\"any\"]\n")
    scen = load(tmp_path, f"policy = '{policy}'\n"
                "[[domain]]\nname = 'x'\nimage = 'net_node'\nmemory = '512K'\nlabel = 'high'\n"
                "cmdline = 'ip=10.0.0.1 byes=1'\n"
                "[[domain]]\nname = 'y'\nimage = 'net_node'\nmemory = '512K'\nlabel = 'high'\n"
                "cmdline = 'ip=10.0.0.2 ping=10.0.0.1 count=2 bye=10.0.0.1'\n"
                "[[link]]\nends = ['x', 'y']\n")
    result = boot(modules=manifest.build_boot_modules(scen, paths.build_dir()), timeout=90)
    assert_status(result, "SUCCESS")
    assert "link 0: 0:x <-> 1:y, shared STE types 0x8000000000000000" in result.lines, log_tail(result)
    log = domlog.parse(result.console)
    assert log.named("x").result == log.named("y").result == "SUCCESS", log_tail(result)
