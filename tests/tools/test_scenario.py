# SPDX-License-Identifier: MIT
"""moat.scenario: good files parse into dataclasses; bad ones give `file: key: message`."""

from __future__ import annotations

from pathlib import Path

import pytest

from moat import scenario
from moat.errors import UserError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mods").mkdir(exist_ok=True)
    (tmp_path / "mods" / "a.bin").write_bytes(b"a")
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_full_scenario(tmp_path: Path):
    path = write(tmp_path, """
[hypervisor]
build = "moat-selftest"
cmdline = "selftest=timer x=1"
memory = "256M"

[[module]]
path = "mods/a.bin"
args = "first"

[[module]]
path = "mods/a.bin"
""")
    scen = scenario.load(path)
    assert scen.hypervisor == scenario.Hypervisor("moat-selftest", "selftest=timer x=1", "256M")
    assert scen.modules == [scenario.Module(tmp_path / "mods" / "a.bin", "first"),
                            scenario.Module(tmp_path / "mods" / "a.bin", "")]
    assert scen.module_pairs()[0] == (tmp_path / "mods" / "a.bin", "first")


def test_empty_scenario_has_defaults(tmp_path: Path):
    scen = scenario.load(write(tmp_path, ""))
    assert scen.hypervisor == scenario.Hypervisor("moat", "", "128M")
    assert scen.modules == []


def test_demo_scenario_parses():
    root = Path(__file__).resolve().parents[2]
    scen = scenario.load(root / "images" / "demo" / "demo.toml")
    assert scen.hypervisor.build == "moat"
    # The system domain first (its actors' command lines rely on the boot order), under the demo policy.
    assert [d.name for d in scen.domains] == ["system", "a-web", "a-db", "b-app", "backup", "net-switch", "a-www",
                                             "a-sql", "b-sniff", "manager-a", "manager-b", "attest"]
    assert [d.label for d in scen.domains] == ["system", "customer-a", "customer-a", "customer-b", "service", "switch",
                                              "customer-a", "customer-a", "customer-b", "manager-a", "manager-b",
                                              "tpm-agent"]
    assert scen.domains[-1].devices == ["tpm", "com2"]
    assert [link.ends for link in scen.links] == [("net-switch", n) for n in ("a-www", "a-sql", "b-sniff")]
    assert scen.domains[0].privileged and not any(d.privileged for d in scen.domains[1:])
    assert scen.policy == root / "docs" / "examples" / "policies" / "demo.toml"
    assert [i.ref for i in scen.images] == ["demo_rival"]


@pytest.mark.parametrize("text,key,message", [
    ("[hypervisor]\nbild = 'moat'\n", "hypervisor.bild", "unknown key"),
    ("[hypervisor]\nbuild = 'xen'\n", "hypervisor.build", "is not one of"),
    ("[hypervisor]\nmemory = '128'\n", "hypervisor.memory", "not a memory size"),
    ("[hypervisor]\ncmdline = 3\n", "hypervisor.cmdline", "must be a string, not integer"),
    ("[hypervisor]\ncmdline = true\n", "hypervisor.cmdline", "must be a string, not boolean"),
    ("hypervisor = 1\n", "hypervisor", "must be a table"),
    ("[domain]\nname = 'x'\n", "domain", "array of tables"),
    ("[domains]\nname = 'x'\n", "domains", "unknown table or key"),
    ("[[module]]\nargs = 'x'\n", "module[0].path", "missing"),
    ("[[module]]\npath = 'mods/none.bin'\n", "module[0].path", "does not exist"),
    ("[[module]]\npath = 'mods/a.bin'\nflags = 1\n", "module[0].flags", "unknown key"),
    ("[module]\npath = 'mods/a.bin'\n", "module", "array of tables"),
])
def test_errors_name_file_and_key(tmp_path: Path, text, key, message):
    path = write(tmp_path, text)
    with pytest.raises(scenario.ScenarioError) as info:
        scenario.load(path)
    assert info.value.key == key
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}: {key}: ")


def test_invalid_toml(tmp_path: Path):
    path = write(tmp_path, "[hypervisor\n")
    with pytest.raises(scenario.ScenarioError, match="not valid TOML"):
        scenario.load(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(UserError, match="no such scenario file"):
        scenario.load(tmp_path / "none.toml")
