# SPDX-License-Identifier: MIT
"""Scenario files: what to boot, as TOML.

    [hypervisor]
    build = "moat"            # or "moat-selftest"
    cmdline = "..."
    memory = "128M"

    [[module]]                # any number, in boot order
    path = "file"             # relative to the scenario file
    args = "..."

Unknown keys are errors (`file: key: message`). Later issues add tables (for
example [[domain]]) by adding a dataclass and an entry in _TABLES.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moat.errors import UserError

BUILDS = ("moat", "moat-selftest")
_MEMORY = re.compile(r"[1-9][0-9]*[MG]")


class ScenarioError(UserError):
    """A mistake in a scenario file; str() is `file: key: message`."""

    def __init__(self, path: Path | str, key: str, message: str) -> None:
        super().__init__(f"{path}: {key}: {message}" if key else f"{path}: {message}")
        self.path = str(path)
        self.key = key
        self.message = message


@dataclass
class Hypervisor:
    build: str = "moat"
    cmdline: str = ""
    memory: str = "128M"


@dataclass
class Module:
    path: Path
    args: str = ""


@dataclass
class Scenario:
    path: Path | None = None
    hypervisor: Hypervisor = field(default_factory=Hypervisor)
    modules: list[Module] = field(default_factory=list)

    def module_pairs(self) -> list[tuple[Path, str]]:
        return [(m.path, m.args) for m in self.modules]


def _check_keys(path: Path, where: str, table: dict[str, Any], allowed: dict[str, type]) -> None:
    for key, value in table.items():
        name = f"{where}.{key}" if where else key
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ScenarioError(path, name, f"unknown key (known here: {known})")
        want = allowed[key]
        if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
            raise ScenarioError(path, name, f"must be a {_type_name(want)}, "
                                            f"not {_type_name(type(value))}")


def _type_name(t: type) -> str:
    return {str: "string", int: "integer", bool: "boolean", dict: "table",
            list: "array"}.get(t, t.__name__)


def _parse_hypervisor(path: Path, data: Any) -> Hypervisor:
    if not isinstance(data, dict):
        raise ScenarioError(path, "hypervisor", "must be a table ([hypervisor])")
    _check_keys(path, "hypervisor", data, {"build": str, "cmdline": str, "memory": str})
    hv = Hypervisor(**data)
    if hv.build not in BUILDS:
        raise ScenarioError(path, "hypervisor.build",
                            f"{hv.build!r} is not one of {', '.join(map(repr, BUILDS))}")
    check_memory(hv.memory, path=path, key="hypervisor.memory")
    return hv


def _parse_modules(path: Path, data: Any) -> list[Module]:
    if not isinstance(data, list):
        raise ScenarioError(path, "module", "must be an array of tables ([[module]])")
    modules = []
    for i, entry in enumerate(data):
        where = f"module[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(path, where, "must be a table")
        _check_keys(path, where, entry, {"path": str, "args": str})
        if "path" not in entry:
            raise ScenarioError(path, f"{where}.path", "missing (the module's file)")
        file = (path.parent / entry["path"]).resolve()
        if not file.is_file():
            raise ScenarioError(path, f"{where}.path", f"{entry['path']} does not exist")
        modules.append(Module(path=file, args=entry.get("args", "")))
    return modules


# Top-level tables: name -> (parser, Scenario attribute).
_TABLES = {
    "hypervisor": (_parse_hypervisor, "hypervisor"),
    "module": (_parse_modules, "modules"),
}


def check_memory(value: str, *, path: Path | str = "--memory", key: str = "") -> str:
    """Accept QEMU memory sizes like 128M or 1G."""
    if not _MEMORY.fullmatch(value):
        raise ScenarioError(path, key, f"{value!r} is not a memory size like 128M or 1G")
    return value


def parse(text: str, path: Path) -> Scenario:
    """Parse scenario text; path names the file in errors and anchors relative module paths."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "", f"not valid TOML: {exc}") from None
    scenario = Scenario(path=path)
    for key, value in data.items():
        if key not in _TABLES:
            known = ", ".join(sorted(_TABLES))
            raise ScenarioError(path, key, f"unknown table or key (known: {known})")
        parser, attr = _TABLES[key]
        setattr(scenario, attr, parser(path, value))
    return scenario


def load(path: Path | str) -> Scenario:
    """Read and parse a scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    return parse(text, path)
