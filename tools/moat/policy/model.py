# SPDX-License-Identifier: MIT
"""The policy model shared by the XML and TOML readers, the checker and the compiler.

The model keeps what the input said, in input order and with line numbers,
including the things Xen's compiler silently ignored (so the checker can
complain about them).  ``numbering()`` applies Xen 4.1's numbering rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from moat.devices import DEVICES

UNLABELED = "__UNLABELED__"

# Bounds the hypervisor enforces when it loads a blob (see docs/policy-format.md).
MAX_TYPES = 4096  # per policy (STE, CHWALL)
MAX_SSIDREFS = 65535  # rows of a matrix; a row index is one 16-bit half of an ssidref
MAX_CONFLICT_SETS = 4096
MAX_NAME_LEN = 1023  # policy-reference name, bytes without the NUL
MAX_POLICY_SIZE = 64 * 1024 * 1024  # whole blob, bytes

# Extension permission bits (docs/policy-format.md, "moat extension"; public/xsm/acm.h).
PERM_DOMAIN_CREATE = 1 << 0
PERM_DOMAIN_DESTROY = 1 << 1
PERM_DOMAIN_PAUSE = 1 << 2
PERM_POLICY_LOAD = 1 << 3
PERM_READ_STATE = 1 << 4
PERM_FOREIGN_EVTCHN = 1 << 5
PERM_FOREIGN_GNTTAB = 1 << 6
PERM_ALL = 0x7F
PERM_NAMES = {
    "create": PERM_DOMAIN_CREATE,
    "destroy": PERM_DOMAIN_DESTROY,
    "pause": PERM_DOMAIN_PAUSE,
    "load_policy": PERM_POLICY_LOAD,
    "read_state": PERM_READ_STATE,
    "foreign_evtchn": PERM_FOREIGN_EVTCHN,
    "foreign_gnttab": PERM_FOREIGN_GNTTAB,
}
# The permissions that name the labels they act on (all but load_policy), in bit order.
TARGETED = ("create", "destroy", "pause", "read_state", "foreign_evtchn", "foreign_gnttab")
# Devices a label may be assigned (moat.devices): the extension's DEVICES section holds one mask
# per label.


# Resource quotas per label (the extension's QUOTAS section, docs/resource-control.md), in the
# order of its fields; UNLIMITED in the blob means no limit.
QUOTA_FIELDS = ("memory", "domains", "ports", "grant_frames", "maptrack")
QUOTA_UNLIMITED = 0xFFFFFFFF
QUOTA_MAX_ROWS = 1024  # labels a policy with quotas may have
QUOTA_MAX = QUOTA_UNLIMITED - 1  # the largest limit (KiB for memory, a count for the others)


# Scheduling defaults per label (the extension's SCHED section, docs/resource-control.md), in the
# order of its fields; 0 in the blob means none (the scheduler's weight 256, no cap).
SCHED_FIELDS = ("weight", "cap")
SCHED_MAX = {"weight": 65535, "cap": 100}  # weight 1-65535 (256: the default), cap 1-100 percent


@dataclass
class SchedDefaults:
    """A label's default weight and cap for domains created without their own; 0: none."""

    line: int
    weight: int = 0
    cap: int = 0

    def cells(self) -> list[int]:
        """The SCHED section's row: weight, cap."""
        return [self.weight, self.cap]


def format_sched(cells: list[int]) -> str:
    """A SCHED row as dump and labels show it: 'weight=512 cap=20', or 'none'."""
    return " ".join(f"{n}={v}" for n, v in zip(SCHED_FIELDS, cells, strict=True) if v) or "none"


def parse_size_kib(text: str) -> int | None:
    """'512K', '64M', '2G' (or a plain number of KiB) in KiB; None if it is not one."""
    t = text.strip().upper()
    mult = {"K": 1, "M": 1024, "G": 1024 * 1024}.get(t[-1:], 0)
    digits = t[:-1] if mult else t
    if not digits.isdigit() or not digits.isascii():
        return None
    return int(digits) * (mult or 1)


@dataclass
class Quota:
    """A label's resource limits; None: no limit. memory in KiB."""

    line: int
    memory: int | None = None
    domains: int | None = None
    ports: int | None = None
    grant_frames: int | None = None
    maptrack: int | None = None

    def cells(self) -> list[int]:
        """The QUOTAS section's row: one word per field, QUOTA_UNLIMITED where there is no limit."""
        vals: list[int | None] = [getattr(self, f) for f in QUOTA_FIELDS]
        return [QUOTA_UNLIMITED if v is None else v for v in vals]


def format_quota(cells: list[int]) -> str:
    """A QUOTAS row as dump, labels and query show it: 'memory=64M domains=4', or 'none'."""
    parts = []
    for name, v in zip(QUOTA_FIELDS, cells, strict=True):
        if v == QUOTA_UNLIMITED:
            continue
        if name == "memory":
            parts.append(f"memory={v // 1024}M" if v % 1024 == 0 else f"memory={v}K")
        else:
            parts.append(f"{name}={v}")
    return " ".join(parts) or "none"


def device_names(mask: int) -> list[str]:
    """'device:NAME' for each device of a DEVICES mask, the way dump, labels and diff show them."""
    return [f"device:{n}" for i, n in enumerate(DEVICES) if mask >> i & 1]


@dataclass
class Named:
    """A name as written in the input, with the line it is on."""

    name: str
    line: int


@dataclass
class Targets:
    """The labels a permission acts on: every VM label (`true`), or the ones listed."""

    line: int
    everyone: bool = False
    labels: list[Named] = field(default_factory=list)

    def names(self, vm_rows: list[str]) -> list[str]:
        return list(vm_rows) if self.everyone else [t.name for t in self.labels]


@dataclass
class Permissions:
    """A VM label's permissions. Each targeted permission names the labels of the domains it
    acts on (None: not held); load_policy is system-wide."""

    line: int
    create: Targets | None = None
    destroy: Targets | None = None
    pause: Targets | None = None
    read_state: Targets | None = None
    foreign_evtchn: Targets | None = None
    foreign_gnttab: Targets | None = None
    load_policy: bool = False
    devices: list[Named] = field(default_factory=list)  # devices it may be assigned (DEVICES)

    def targets(self, perm: str) -> Targets | None:
        t: Targets | None = getattr(self, perm)
        return t

    def held(self) -> list[str]:
        """The permissions given, in bit order."""
        return [n for n in PERM_NAMES if (n == "load_policy" and self.load_policy) or
                (n != "load_policy" and self.targets(n) is not None)]

    def device_mask(self) -> int:
        """The devices it may be assigned, bit n for device n (DEVICES)."""
        m = 0
        for d in self.devices:
            if d.name in DEVICES:
                m |= 1 << DEVICES.index(d.name)
        return m


@dataclass
class VmLabel:
    name: str
    line: int
    ste: list[Named] = field(default_factory=list)
    chwall: list[Named] = field(default_factory=list)
    from_name: str | None = None
    permissions: Permissions | None = None
    quota: Quota | None = None
    sched: SchedDefaults | None = None


@dataclass
class ResourceLabel:
    name: str
    line: int
    ste: list[Named] | None = None  # None: no SimpleTypeEnforcementTypes at all (Xen skips it)


@dataclass
class ConflictSet:
    name: str
    line: int
    types: list[Named] = field(default_factory=list)


@dataclass
class Diagnostic:
    """One finding.  ``level``: 'error' (never compiles), 'strict' (Xen 4.1 accepted it,
    we refuse it unless --xen-compat), 'warning'."""

    file: str
    line: int
    message: str
    level: str = "error"

    def __str__(self) -> str:
        tag = {"error": "error", "strict": "error", "warning": "warning"}[self.level]
        return f"{self.file}:{self.line}: {tag}: {self.message}"


class PolicyReadError(Exception):
    """The input cannot be turned into a model at all."""

    def __init__(self, diags: list[Diagnostic]) -> None:
        super().__init__("\n".join(str(d) for d in diags))
        self.diagnostics = diags


@dataclass
class Policy:
    file: str
    source_kind: str  # "xml" or "toml"
    name: str = ""
    name_line: int = 1
    version: str = ""
    version_line: int = 1
    has_version: bool = True
    has_name: bool = True
    has_subjects: bool = True
    from_policy: tuple[str, str] | None = None
    from_line: int = 1
    ste_types: list[Named] = field(default_factory=list)
    chwall_types: list[Named] = field(default_factory=list)
    conflict_sets: list[ConflictSet] = field(default_factory=list)
    bootstrap: str = ""
    bootstrap_line: int = 1
    vm_labels: list[VmLabel] = field(default_factory=list)
    resource_labels: list[ResourceLabel] = field(default_factory=list)
    xml_hash: bytes = b"\0" * 20
    # problems found while reading (structure, skipped elements, Xen quirks)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def uses_permissions(self) -> bool:
        return any(v.permissions is not None for v in self.vm_labels)

    def uses_quotas(self) -> bool:
        return any(v.quota is not None and any(c != QUOTA_UNLIMITED for c in v.quota.cells())
                   for v in self.vm_labels)

    def uses_sched(self) -> bool:
        return any(v.sched is not None and any(v.sched.cells()) for v in self.vm_labels)

    def uses_extension(self) -> bool:
        """Whether the blob carries the moat extension: permissions, quotas or scheduling defaults."""
        return self.uses_permissions() or self.uses_quotas() or self.uses_sched()


def parse_version(text: str) -> tuple[int, int] | None:
    """Xen's ``int(v.split('.')[0]), int(v.split('.')[1]) if present``; None if that fails."""
    if text == "":
        return (0, 0)
    parts = text.split(".")

    def py2int(s: str) -> int | None:
        s2 = s.strip(" \t\n\r\x0b\x0c")
        body = s2[1:] if s2[:1] in "+-" else s2
        if not body or not body.isascii() or not body.isdigit():
            return None
        return int(s2)

    major = py2int(parts[0])
    if major is None:
        return None
    minor = 0
    if len(parts) > 1:
        m = py2int(parts[1])
        if m is None:
            return None
        minor = m
    return (major, minor)


@dataclass
class Numbering:
    """Xen 4.1's numbering of one policy (acm-binary-format.md section 2.1)."""

    ste_types: list[str]  # column order
    chwall_types: list[str]
    vm_rows: list[str]  # row 0 is __UNLABELED__ (pseudo or real)
    vm_by_row: list[VmLabel | None]
    res_rows: list[str]  # STE rows len(vm_rows)...
    res_by_row: list[ResourceLabel]
    conflict_sets: list[ConflictSet]  # row order

    @property
    def chwall_ssidrefs(self) -> int:
        return len(self.vm_rows)

    @property
    def ste_ssidrefs(self) -> int:
        return len(self.vm_rows) + len(self.res_rows)


def numbering(p: Policy) -> Numbering:
    ste = sorted(t.name for t in p.ste_types)
    chw = sorted(t.name for t in p.chwall_types)
    by_name: dict[str, VmLabel] = {}
    for v in p.vm_labels:
        if v.name != "" and v.name not in by_name:
            by_name[v.name] = v
    names = [v.name for v in p.vm_labels if v.name != ""]
    if p.bootstrap in names:
        names.remove(p.bootstrap)
        names.sort()
        names.insert(0, p.bootstrap)
    else:
        names.sort()
    if UNLABELED in names:
        names.remove(UNLABELED)
    rows = [UNLABELED] + names
    vm_by_row: list[VmLabel | None] = [by_name.get(UNLABELED)] + [by_name[n] for n in names]
    res = [r for r in p.resource_labels if r.ste is not None and r.name != ""]
    res.sort(key=lambda r: r.name)  # stable
    for i, r in enumerate(res):
        if r.name == UNLABELED:
            del res[i]
            break
    sets = list(p.conflict_sets)
    sets.sort(key=lambda c: c.name)  # stable: equal names keep document order
    return Numbering(ste, chw, rows, vm_by_row, [r.name for r in res], res, sets)
