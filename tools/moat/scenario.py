# SPDX-License-Identifier: MIT
"""Scenario files: what to boot, as TOML.

    [hypervisor]
    build = "moat"            # or "moat-selftest"
    cmdline = "..."
    memory = "128M"
    cpus = 2                  # QEMU's -smp (default: 1, or `moat test --smp N`)

    [[module]]                # any number, in boot order
    path = "file"             # relative to the scenario file
    args = "..."

    [scheduler]
    slice_ms = 10             # 0: the hypervisor's default
    mode = "partition"        # a fixed cyclic schedule, one partition per label (sched=partition)
    partition_ms = 10         # each partition's length (partition_ms=), with mode = "partition"

    images = ["hello"]        # extra images a privileged domain may create domains from
    policy = "policy.toml"    # the MAC policy (XML or TOML; default: moat's default policy)

    [[domain]]                # any number (at most 64); docs/scenarios.md has every key
    image = "hello"           # build/images/hello.elf, or a path to an ELF
    memory = "1M"
    expect = "poweroff"       # or "crash", "any"

    [[link]]                  # any number: point-to-point links (moat.links, docs/networking.md)
    ends = ["switch", "web"]  # the first end grants the pages, the second maps them

With [[domain]] tables, module_pairs() stages the boot manifest and the images
(moat.manifest) and returns them before the [[module]] entries.

Unknown keys are errors (`file: key: message`). Later issues add tables (for
example [[domain]]) by adding a dataclass and an entry in _TABLES.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moat.devices import DEVICES
from moat.errors import UserError

if TYPE_CHECKING:
    from moat.links import Link

BUILDS = ("moat", "moat-selftest")
_MEMORY = re.compile(r"[1-9][0-9]*[MG]")
_GUEST_MEMORY = re.compile(r"([1-9][0-9]*)([KMG])")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,31}")
EXPECTS = ("poweroff", "crash", "any")
SCHEDULERS = ("roundrobin", "partition")
GUEST_MEMORY_MIN_KIB = 64
GUEST_MEMORY_MAX_KIB = 1 << 20  # GUEST_RAM_MAX in hv/include/public/hv.h
MAX_DOMAINS = 64                # MANIFEST_MAX_DOMAINS
MAX_CPUS = 64                   # MOAT_MAX_CPUS
MAX_VCPUS = 8                   # MOAT_MAX_VCPUS (hv/include/public/vcpu.h)


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
    cpus: int | None = None  # None: not named (one CPU, unless a test run asks for more)


@dataclass
class Module:
    path: Path
    args: str = ""


@dataclass
class Scheduler:
    slice_ms: int = 0  # 0: the hypervisor's default
    mode: str = "roundrobin"  # or "partition" (hv/core/sched_partition.c): `sched=` on the command line
    partition_ms: int = 0  # 0: the hypervisor's default (10 ms)

    def cmdline(self) -> str:
        """The hypervisor command-line words this table stands for."""
        if self.mode != "partition":
            return ""
        return "sched=partition" + (f" partition_ms={self.partition_ms}" if self.partition_ms else "")


@dataclass
class Domain:
    name: str
    image: str                # a guest built by SCons (build/images/<image>.elf) or a path to an ELF
    memory: str = "1M"
    label: str | int | None = None  # a VM label of the policy, or a raw ssidref
    cmdline: str = ""
    privileged: bool = False
    expect: str = "poweroff"
    max_evtchn: int = 0
    max_grant_frames: int = 0
    devices: list[str] = field(default_factory=list)  # DEVICES assigned to it (its label must permit them)
    cpu: int | None = None    # vCPU 0 pinned to this CPU (0 = the boot CPU); None: the scheduler places it
    vcpu_cpus: list[int] = field(default_factory=list)  # `cpu = [k0, k1, ...]`: vCPU i pinned to k_i
    vcpus: int = 1            # its vCPUs, 1 to MAX_VCPUS; vCPU 0 starts, the guest brings up the others
    weight: int = 0           # proportional share, 1-65535 (0: the default, 256; docs/resource-control.md)
    cap: int = 0              # percent of one CPU it may use at most, 1-100 (0: no cap)

    @staticmethod
    def is_path(image: str) -> bool:
        return "/" in image or image.endswith(".elf")

    @property
    def image_name(self) -> str:
        """The image module's name: the guest name, or the file's stem for a path."""
        return Path(self.image).stem if self.is_path(self.image) else self.image

    @property
    def memory_kib(self) -> int:
        return guest_memory_kib(self.memory)


@dataclass
class ExtraImage:
    name: str
    ref: str


@dataclass
class Scenario:
    path: Path | None = None
    hypervisor: Hypervisor = field(default_factory=Hypervisor)
    modules: list[Module] = field(default_factory=list)
    scheduler: Scheduler = field(default_factory=Scheduler)
    domains: list[Domain] = field(default_factory=list)
    images: list[ExtraImage] = field(default_factory=list)
    policy: Path | None = None  # None: moat's default policy
    links: list[Link] = field(default_factory=list)  # [[link]] tables (moat.links)

    def module_pairs(self) -> list[tuple[Path, str]]:
        from moat import bootpolicy, manifest, paths

        if self.domains:
            return manifest.build_boot_modules(self, paths.build_dir())
        mods = [(m.path, m.args) for m in self.modules]
        if self.policy is not None:
            pol = bootpolicy.compile_for_boot(self.policy, paths.build_dir() / "policies")
            mods.append((pol.blob, bootpolicy.POLICY_MODULE_ARGS))
        return mods


def _check_keys(path: Path, where: str, table: dict[str, Any],
                allowed: dict[str, type | tuple[type, ...]]) -> None:
    for key, value in table.items():
        name = f"{where}.{key}" if where else key
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ScenarioError(path, name, f"unknown key (known here: {known})")
        want = allowed[key]
        if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
            raise ScenarioError(path, name, f"must be a {_type_name(want)}, "
                                            f"not {_type_name(type(value))}")


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return {str: "string", int: "integer", bool: "boolean", dict: "table",
            list: "array"}.get(t, t.__name__)


def _parse_hypervisor(path: Path, data: Any) -> Hypervisor:
    if not isinstance(data, dict):
        raise ScenarioError(path, "hypervisor", "must be a table ([hypervisor])")
    _check_keys(path, "hypervisor", data, {"build": str, "cmdline": str, "memory": str, "cpus": int})
    hv = Hypervisor(**data)
    if hv.cpus is not None and not 1 <= hv.cpus <= MAX_CPUS:
        raise ScenarioError(path, "hypervisor.cpus", f"{hv.cpus} CPUs; must be 1 to {MAX_CPUS}")
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


def guest_memory_kib(value: str, *, path: Path | str = "scenario", key: str = "") -> int:
    """A domain's memory ("512K", "1M", "1G") in KiB: a multiple of 4 KiB, 64 KiB to 1 GiB."""
    m = _GUEST_MEMORY.fullmatch(value)
    if not m:
        raise ScenarioError(path, key, f"{value!r} is not a memory size like 512K or 1M")
    kib = int(m.group(1)) << {"K": 0, "M": 10, "G": 20}[m.group(2)]
    if kib % 4:
        raise ScenarioError(path, key, f"{value!r} is not a multiple of 4K (whole pages)")
    if not GUEST_MEMORY_MIN_KIB <= kib <= GUEST_MEMORY_MAX_KIB:
        raise ScenarioError(path, key, f"{value!r} is outside {GUEST_MEMORY_MIN_KIB}K..1G")
    return kib


def _check_image_ref(path: Path, key: str, image: str) -> None:
    name = Path(image).stem if Domain.is_path(image) else image
    if not _NAME.fullmatch(name):
        raise ScenarioError(path, key, f"{image!r}: image names are 1-31 of A-Z a-z 0-9 _ . -")


def _parse_scheduler(path: Path, data: Any) -> Scheduler:
    if not isinstance(data, dict):
        raise ScenarioError(path, "scheduler", "must be a table ([scheduler])")
    _check_keys(path, "scheduler", data, {"slice_ms": int, "mode": str, "partition_ms": int})
    sched = Scheduler(**data)
    if not 0 <= sched.slice_ms <= 1000:
        raise ScenarioError(path, "scheduler.slice_ms", "must be 0 (default) to 1000")
    if sched.mode not in SCHEDULERS:
        raise ScenarioError(path, "scheduler.mode", f"{sched.mode!r}: one of {', '.join(SCHEDULERS)}")
    if sched.partition_ms and sched.mode != "partition":
        raise ScenarioError(path, "scheduler.partition_ms", 'only with mode = "partition"')
    if not (sched.partition_ms == 0 or 2 <= sched.partition_ms <= 1000):
        raise ScenarioError(path, "scheduler.partition_ms", "must be 0 (default) or 2 to 1000")
    return sched


_DOMAIN_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "image": str, "memory": str, "label": (str, int), "cmdline": str, "privileged": bool,
    "expect": str, "max_evtchn": int, "max_grant_frames": int, "count": int, "devices": list,
    "cpu": (int, list), "vcpus": int, "weight": int, "cap": int,
}


def _parse_domains(path: Path, data: Any) -> list[Domain]:
    if not isinstance(data, list):
        raise ScenarioError(path, "domain", "must be an array of tables ([[domain]])")
    domains: list[Domain] = []
    for i, entry in enumerate(data):
        where = f"domain[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(path, where, "must be a table")
        _check_keys(path, where, entry, _DOMAIN_KEYS)
        entry = dict(entry)
        if "image" not in entry:
            raise ScenarioError(path, f"{where}.image", "missing (a guest name or an ELF path)")
        _check_image_ref(path, f"{where}.image", entry["image"])
        count = entry.pop("count", 1)
        if not 1 <= count <= MAX_DOMAINS:
            raise ScenarioError(path, f"{where}.count", f"must be 1 to {MAX_DOMAINS}")
        base = entry.pop("name", None) or Domain(name="", image=entry["image"]).image_name
        guest_memory_kib(entry.get("memory", "1M"), path=path, key=f"{where}.memory")
        if entry.get("expect", "poweroff") not in EXPECTS:
            raise ScenarioError(path, f"{where}.expect",
                                f"{entry['expect']!r} is not one of {', '.join(map(repr, EXPECTS))}")
        for key in ("label", "max_evtchn", "max_grant_frames"):
            value = entry.get(key, 0)
            if isinstance(value, int) and not 0 <= value < 1 << 32:
                raise ScenarioError(path, f"{where}.{key}", "must be 0 to 2**32-1")
        if "vcpus" in entry and not 1 <= entry["vcpus"] <= MAX_VCPUS:
            raise ScenarioError(path, f"{where}.vcpus", f"must be 1 to {MAX_VCPUS}")
        if not 0 <= entry.get("weight", 0) <= 65535:
            raise ScenarioError(path, f"{where}.weight", "must be 1 to 65535 (0: the default, 256)")
        if not 0 <= entry.get("cap", 0) <= 100:
            raise ScenarioError(path, f"{where}.cap", "must be 1 to 100 percent of one CPU (0: no cap)")
        if isinstance(entry.get("cpu"), list):  # one CPU per vCPU
            cpus = entry.pop("cpu")
            if len(cpus) != entry.get("vcpus", 1) or not all(type(c) is int for c in cpus):
                raise ScenarioError(path, f"{where}.cpu", f"a list names one CPU (an integer) for each of its "
                                                          f"{entry.get('vcpus', 1)} vcpus")
            entry["cpu"], entry["vcpu_cpus"] = cpus[0], cpus
        for cpu in entry.get("vcpu_cpus", [entry.get("cpu", 0)]):
            if not 0 <= cpu < MAX_CPUS:
                raise ScenarioError(path, f"{where}.cpu", f"must be 0 to {MAX_CPUS - 1}")
        if len(entry.get("cmdline", "").encode()) > 255:
            raise ScenarioError(path, f"{where}.cmdline", "longer than 255 bytes")
        devices = entry.get("devices", [])
        for dev in devices:
            if dev not in DEVICES:
                raise ScenarioError(path, f"{where}.devices",
                                    f"{dev!r} is not a device (known: {', '.join(DEVICES)})")
        if len(set(devices)) != len(devices):
            raise ScenarioError(path, f"{where}.devices", "lists a device twice")
        if devices and count > 1:
            raise ScenarioError(path, f"{where}.devices", "a device can be held by one domain only (count > 1)")
        for n in range(count):
            name = f"{base}-{n}" if count > 1 else base
            if not _NAME.fullmatch(name):
                raise ScenarioError(path, f"{where}.name",
                                    f"{name!r}: domain names are 1-31 of A-Z a-z 0-9 _ . -")
            if any(d.name == name for d in domains):
                raise ScenarioError(path, f"{where}.name", f"{name!r} is used by another domain")
            domains.append(Domain(name=name, **entry))
    held: dict[str, str] = {}
    for d in domains:
        for dev in d.devices:
            if dev in held:
                raise ScenarioError(path, "domain", f"device {dev!r} is assigned to both {held[dev]!r} and "
                                                    f"{d.name!r}; a device is held by one domain at a time")
            held[dev] = d.name
    if len(domains) > MAX_DOMAINS:
        raise ScenarioError(path, "domain", f"{len(domains)} domains; at most {MAX_DOMAINS}")
    return domains


def _parse_images(path: Path, data: Any) -> list[ExtraImage]:
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise ScenarioError(path, "images", "must be an array of image names or ELF paths")
    images = []
    for i, ref in enumerate(data):
        _check_image_ref(path, f"images[{i}]", ref)
        images.append(ExtraImage(name=Domain(name="", image=ref).image_name, ref=ref))
    return images


def _parse_policy(path: Path, data: Any) -> Path:
    if not isinstance(data, str):
        raise ScenarioError(path, "policy", "must be a string (a policy file, XML or TOML)")
    file = (path.parent / data).resolve()
    if not file.is_file():
        raise ScenarioError(path, "policy", f"{data} does not exist")
    return file


def _parse_links(path: Path, data: Any) -> list[Link]:
    from moat import links  # links.py builds on this module

    return links.parse(path, data)


# Top-level tables and keys: name -> (parser, Scenario attribute).
_TABLES = {
    "policy": (_parse_policy, "policy"),
    "hypervisor": (_parse_hypervisor, "hypervisor"),
    "module": (_parse_modules, "modules"),
    "scheduler": (_parse_scheduler, "scheduler"),
    "domain": (_parse_domains, "domains"),
    "images": (_parse_images, "images"),
    "link": (_parse_links, "links"),
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
    if words := scenario.scheduler.cmdline():  # the hypervisor reads the mode from its command line
        hv = scenario.hypervisor
        hv.cmdline = f"{hv.cmdline} {words}".strip()
    if scenario.links:
        from moat import links

        links.check_names(scenario)
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


SCENARIO_DIRS = ("images/demo", "tests/scenarios", "tests/bench")


def describe(path: Path) -> str:
    """A scenario's first comment sentence (after the SPDX line), for listings."""
    words: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for line in lines:
        if not line.startswith("#") or "SPDX-License-Identifier" in line or "bench-" in line:
            if words:
                break
            continue
        words.append(line.lstrip("#").strip())
        if words[-1].endswith("."):
            break
    text = " ".join(w for w in words if w).split(". ")[0].rstrip(".")
    return text if len(text) <= 110 else text[:109].rstrip() + "…"


def list_scenarios(root: Path | None = None) -> list[tuple[str, str]]:
    """Every scenario in the repository: (path relative to the root, what it is)."""
    from moat import paths

    root = root or paths.repo_root()
    found = []
    for folder in SCENARIO_DIRS:
        for path in sorted((root / folder).glob("*.toml")):
            found.append((str(path.relative_to(root)), describe(path)))
    return found
