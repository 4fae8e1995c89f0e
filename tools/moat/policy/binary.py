# SPDX-License-Identifier: MIT
"""The ACM policy_version 4 binary: writer (byte-identical to Xen 4.1) and strict decoder.

Layout (docs/policy-format.md): header(60) | policy reference | CHWALL | STE | [moat extension].
The decoder accepts exactly what hv/xsm/acm_policy.c accepts and reports the
first problem as (offset, field) -- the C parser reports the same pair.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from moat.devices import DEVICES_ALL

from .model import (
    MAX_CONFLICT_SETS,
    MAX_NAME_LEN,
    MAX_POLICY_SIZE,
    MAX_SSIDREFS,
    MAX_TYPES,
    PERM_ALL,
    PERM_NAMES,
    PERM_POLICY_LOAD,
    QUOTA_FIELDS,
    QUOTA_MAX_ROWS,
    QUOTA_UNLIMITED,
    SCHED_FIELDS,
    SCHED_MAX,
    TARGETED,
    Numbering,
    Policy,
    numbering,
    parse_version,
)

ACM_MAGIC = 0x0001DEBC
ACM_POLICY_VERSION = 4
ACM_CHWALL_VERSION = 1
ACM_STE_VERSION = 1
CODE_NULL = 0
CODE_CHWALL = 1
CODE_STE = 2
CODE_UNDEFINED = 15
HEADER_SIZE = 60
CHWALL_HEADER_SIZE = 36
STE_HEADER_SIZE = 20
EXT_MAGIC = 0x4D4F4154  # "MOAT"
EXT_VERSION = 2
EXT_HEADER_SIZE = 16
EXT_SECTION_HEADER_SIZE = 8
EXT_MAX_SECTIONS = 64
SEC_PERMISSIONS = 1
SEC_DEVICES = 2  # one mask of the devices each label may be assigned (bit n = device n)
SEC_QUOTAS = 3  # per label, one limit per resource (QUOTA_FIELDS; docs/resource-control.md)
SEC_SCHED = 4  # per label, a default weight and cap (SCHED_FIELDS; docs/resource-control.md)
SEC_TARGETS_BASE = 16  # section type of targeted permission bit b: 16 + b


def _bit(perm: str) -> int:
    return PERM_NAMES[perm].bit_length() - 1


SEC_TARGETS = {SEC_TARGETS_BASE + _bit(n): n for n in TARGETED}  # section type -> permission

CODE_NAMES = {0: "NULL", 1: "CHWALL", 2: "STE", 15: "UNDEFINED"}


def roundup8(n: int) -> int:
    return (n + 7) & ~7


def _polref_len(name: str) -> int:
    return roundup8(4 + len(name.encode("ascii", "replace")) + 1)


def _ext_content(num: Numbering) -> tuple[list[int], list[int], dict[str, list[list[int]]]]:
    """Each VM row's permission flags and devices, and per targeted permission that some row
    holds, the target rows of every row."""
    rows = num.chwall_ssidrefs
    row_of = {n: i for i, n in enumerate(num.vm_rows)}
    flags = [0] * rows
    devices = [0] * rows
    targets: dict[str, list[list[int]]] = {}
    for r, v in enumerate(num.vm_by_row):
        perm = v.permissions if v else None
        if perm is None:
            continue
        devices[r] = perm.device_mask()
        if perm.load_policy:
            flags[r] |= PERM_POLICY_LOAD
        for name in TARGETED:
            t = perm.targets(name)
            if t is None:
                continue
            got = sorted({row_of[n] for n in t.names(num.vm_rows) if n in row_of})
            if got:
                flags[r] |= PERM_NAMES[name]
                targets.setdefault(name, [[] for _ in range(rows)])[r] = got
    return flags, devices, targets


def _quota_cells(num: Numbering) -> list[int] | None:
    """The QUOTAS section's cells, row by row, or None when no label has a limit."""
    cells: list[int] = []
    for v in num.vm_by_row:
        q = v.quota if v else None
        cells += q.cells() if q else [QUOTA_UNLIMITED] * len(QUOTA_FIELDS)
    return cells if any(c != QUOTA_UNLIMITED for c in cells) else None


def _sched_cells(num: Numbering) -> list[int] | None:
    """The SCHED section's cells, row by row, or None when no label has a default."""
    cells: list[int] = []
    for v in num.vm_by_row:
        s = v.sched if v else None
        cells += s.cells() if s else [0] * len(SCHED_FIELDS)
    return cells if any(cells) else None


def _ext_len(rows: int, has_devices: bool, nr_targets: int, has_quotas: bool, has_sched: bool) -> int:
    words = (rows + 31) // 32
    return (EXT_HEADER_SIZE + (1 + has_devices) * roundup8(16 + 4 * rows) +
            has_quotas * roundup8(16 + 4 * rows * len(QUOTA_FIELDS)) +
            has_sched * roundup8(16 + 4 * rows * len(SCHED_FIELDS)) +
            nr_targets * roundup8(16 + 4 * rows * words))


def blob_size(p: Policy, num: Numbering | None = None) -> int:
    num = num or numbering(p)
    tc, rc, k = len(num.chwall_types), num.chwall_ssidrefs, len(num.conflict_sets)
    ts, rs = len(num.ste_types), num.ste_ssidrefs
    size = HEADER_SIZE + _polref_len(p.name)
    size += roundup8(CHWALL_HEADER_SIZE + 2 * tc * rc + 2 * tc * k)
    size += roundup8(STE_HEADER_SIZE + 2 * ts * rs)
    if p.uses_extension():
        _, devices, targets = _ext_content(num)
        size += _ext_len(rc, any(devices), len(targets), _quota_cells(num) is not None,
                         _sched_cells(num) is not None)
    return size


def _set_matrix(buf: bytearray, off: int, rows: list[list[str] | None], cols: list[str]) -> None:
    """Write rows x cols big-endian u16 cells (1 where a row names a column) into zeroed buf at off."""
    stride = 2 * len(cols)
    index = {c: i for i, c in enumerate(cols)}
    for r, names in enumerate(rows):
        if names:
            base = off + stride * r + 1
            for n in names:
                j = index.get(n)
                if j is not None:
                    buf[base + 2 * j] = 1


def _pad(b: bytes | bytearray) -> bytes:
    return bytes(b) + b"\0" * (roundup8(len(b)) - len(b))


def _codes(tc: int, ts: int) -> tuple[int, int]:
    """Xen 4.1's primary and secondary policy codes for tc CHWALL and ts STE types."""
    if tc:
        return CODE_CHWALL, CODE_STE
    if ts:
        return CODE_STE, CODE_UNDEFINED
    return CODE_UNDEFINED, CODE_UNDEFINED


def compile_policy(p: Policy, num: Numbering | None = None) -> bytes:
    """Compile a (checked) policy.  Follows Xen 4.1's policy_create_map_and_bin().

    Every section is written in place into one zeroed buffer of the final size (the matrices of a
    large policy are megabytes; nothing is copied or padded afterwards).
    """
    num = num or numbering(p)
    ver = parse_version(p.version)
    if ver is None:
        raise ValueError(f"bad version {p.version!r}")
    name = p.name.encode("ascii")
    tc, rc, k = len(num.chwall_types), num.chwall_ssidrefs, len(num.conflict_sets)
    ts, rs = len(num.ste_types), num.ste_ssidrefs
    chw_off = HEADER_SIZE + _polref_len(p.name)
    ste_off = chw_off + roundup8(CHWALL_HEADER_SIZE + 2 * tc * rc + 2 * tc * k)
    ext_off = ste_off + roundup8(STE_HEADER_SIZE + 2 * ts * rs)
    ext = _extension(num) if p.uses_extension() else b""
    total = ext_off + len(ext)
    buf = bytearray(total)
    # policy reference: its length (with the NUL) and the name
    struct.pack_into(f"!I{len(name)}s", buf, HEADER_SIZE, len(name) + 1, name)
    # CHWALL: header, ssidref x type matrix, conflict set x type matrix
    struct.pack_into("!9i", buf, chw_off, ACM_CHWALL_VERSION, CODE_CHWALL, tc, rc, k, CHWALL_HEADER_SIZE,
                     CHWALL_HEADER_SIZE + 2 * tc * rc, 0, 0)
    _set_matrix(buf, chw_off + CHWALL_HEADER_SIZE,
                [[t.name for t in v.chwall] if v else None for v in num.vm_by_row], num.chwall_types)
    _set_matrix(buf, chw_off + CHWALL_HEADER_SIZE + 2 * tc * rc,
                [[t.name for t in c.types] for c in num.conflict_sets], num.chwall_types)
    # STE: header, ssidref x type matrix (VM rows, then resource rows)
    struct.pack_into("!5i", buf, ste_off, ACM_STE_VERSION, CODE_STE, ts, rs, STE_HEADER_SIZE)
    rows: list[list[str] | None] = [[t.name for t in v.ste] if v else None for v in num.vm_by_row]
    rows += [[t.name for t in (r.ste or [])] for r in num.res_by_row]
    _set_matrix(buf, ste_off + STE_HEADER_SIZE, rows, num.ste_types)
    buf[ext_off:] = ext
    # header last: it points at the sections
    primary, secondary = _codes(tc, ts)
    if primary == CODE_CHWALL:
        secondary_off = ste_off
    elif primary == CODE_STE:
        secondary_off = chw_off + (ext_off - ste_off)  # Xen 4.1's bug, kept for byte identity
    else:
        secondary_off = chw_off
    struct.pack_into("!iiiiiiiiii20s", buf, 0, ACM_MAGIC, ACM_POLICY_VERSION, total, HEADER_SIZE, primary,
                     chw_off, secondary, secondary_off, ver[0], ver[1], p.xml_hash)
    return bytes(buf)


def _extension(num: Numbering) -> bytes:
    """The moat extension, version 2: a PERMISSIONS section, a DEVICES section if some label may
    be assigned a device, a QUOTAS section if some label has a limit, a SCHED section if some
    label has a default weight or cap, then one TARGETS section
    per targeted permission some label holds (docs/policy-format.md section 7)."""
    rows = num.chwall_ssidrefs
    words = (rows + 31) // 32
    flags, devices, targets = _ext_content(num)
    sections = [_pad(struct.pack(f"!4I{rows}I", SEC_PERMISSIONS, roundup8(16 + 4 * rows), rows, 0, *flags))]
    if any(devices):
        sections.append(_pad(struct.pack(f"!4I{rows}I", SEC_DEVICES, roundup8(16 + 4 * rows), rows, 0, *devices)))
    quotas = _quota_cells(num)
    if quotas is not None:
        nf = len(QUOTA_FIELDS)
        sections.append(_pad(struct.pack(f"!4I{rows * nf}I", SEC_QUOTAS, roundup8(16 + 4 * rows * nf), rows, nf,
                                          *quotas)))
    sched = _sched_cells(num)
    if sched is not None:
        nf = len(SCHED_FIELDS)
        sections.append(_pad(struct.pack(f"!4I{rows * nf}I", SEC_SCHED, roundup8(16 + 4 * rows * nf), rows, nf,
                                          *sched)))
    for name in TARGETED:
        if name not in targets:
            continue
        cells = []
        for got in targets[name]:
            bits = [0] * words
            for t in got:
                bits[t // 32] |= 1 << (t % 32)
            cells += bits
        body = struct.pack(f"!4I{rows * words}I", SEC_TARGETS_BASE + _bit(name),
                           roundup8(16 + 4 * rows * words), rows, words, *cells)
        sections.append(_pad(body))
    total = EXT_HEADER_SIZE + sum(len(s) for s in sections)
    return struct.pack("!4I", EXT_MAGIC, EXT_VERSION, total, len(sections)) + b"".join(sections)


# ---------------------------------------------------------------------------- decoder


class BlobError(Exception):
    def __init__(self, offset: int, fld: str, message: str) -> None:
        super().__init__(f"offset {offset} ({fld}): {message}")
        self.offset = offset
        self.field = fld
        self.message = message


@dataclass
class Chwall:
    offset: int
    types: int
    ssidrefs: int
    sets: int
    ssid: list[bytes]  # ssidrefs rows of `types` cells (0/1)
    conflict: list[bytes]
    size: int


@dataclass
class Ste:
    offset: int
    types: int
    ssidrefs: int
    ssid: list[bytes]
    size: int


@dataclass
class Ext:
    offset: int
    version: int
    rows: int
    sections: int
    flags: list[int]
    devices: list[int]  # per row: the devices it may be assigned (bit n = DEVICES[n])
    quotas: list[list[int]]  # per row: its limit of each QUOTA_FIELDS resource (QUOTA_UNLIMITED: none)
    sched: list[list[int]]  # per row: its default weight and cap (SCHED_FIELDS; 0: none)
    targets: dict[str, list[list[int]]]  # per targeted permission, per row: the rows it acts on
    size: int


@dataclass
class Blob:
    size: int
    name: str
    primary: int
    primary_off: int
    secondary: int
    secondary_off: int
    xml_version: tuple[int, int]
    xml_hash: bytes
    chwall: Chwall
    ste: Ste
    ext: Ext | None
    loadable: bool
    not_loadable_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The canonical decode; tests/host/acm_check.c prints the same object."""

        def rows(m: list[bytes]) -> list[str]:
            return [r.translate(_CELLCHARS).decode("ascii") for r in m]

        return {
            "size": self.size,
            "name": self.name,
            "xml_version": list(self.xml_version),
            "xml_hash": self.xml_hash.hex(),
            "primary": self.primary,
            "primary_offset": self.primary_off,
            "secondary": self.secondary,
            "secondary_offset": self.secondary_off,
            "loadable": self.loadable,
            "chwall": {
                "offset": self.chwall.offset,
                "types": self.chwall.types,
                "ssidrefs": self.chwall.ssidrefs,
                "conflict_sets": self.chwall.sets,
                "ssid": rows(self.chwall.ssid),
                "conflict": rows(self.chwall.conflict),
            },
            "ste": {
                "offset": self.ste.offset,
                "types": self.ste.types,
                "ssidrefs": self.ste.ssidrefs,
                "ssid": rows(self.ste.ssid),
            },
            "ext": None
            if self.ext is None
            else {
                "offset": self.ext.offset,
                "version": self.ext.version,
                "rows": self.ext.rows,
                "sections": self.ext.sections,
                "flags": self.ext.flags,
                "devices": self.ext.devices,
                "quotas": self.ext.quotas,
                "sched": self.ext.sched,
                "targets": self.ext.targets,
            },
        }


_CELLCHARS = bytes.maketrans(b"\x00\x01", b"01")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.d = data

    def u32(self, off: int) -> int:
        return int.from_bytes(self.d[off : off + 4], "big")

    def words(self, off: int, n: int) -> tuple[int, ...]:
        """The n big-endian u32 at off (within the blob: the caller has checked), in one read."""
        return struct.unpack_from(f">{n}I", self.d, off)

    def s32(self, off: int) -> int:
        return int.from_bytes(self.d[off : off + 4], "big", signed=True)

    def expect(self, off: int, fld: str, want: int) -> int:
        v = self.u32(off)
        if v != want:
            raise BlobError(off, fld, f"is {v:#x}, expected {want:#x}")
        return v

    def bounded(self, off: int, fld: str, limit: int) -> int:
        v = self.u32(off)
        if v > limit:
            raise BlobError(off, fld, f"is {v}, at most {limit} allowed")
        return v

    def need(self, off: int, length: int, fld: str) -> None:
        if off + length > len(self.d):
            raise BlobError(off, fld, f"needs {length} bytes at offset {off}, the blob ends at {len(self.d)}")

    def zeros(self, start: int, end: int, fld: str) -> None:
        seg = self.d[start:end]
        if seg.count(0) != len(seg):
            i = next(i for i, b in enumerate(seg) if b)
            raise BlobError(start + i, fld, "padding byte is not zero")

    def matrix(self, off: int, rows: int, cols: int, fld: str) -> list[bytes]:
        """rows x cols big-endian u16 cells, each 0 or 1."""
        n = 2 * cols
        out = []
        d = self.d
        for r in range(rows):
            row = d[off + r * n : off + (r + 1) * n]
            hi = row[0::2]
            lo = row[1::2]
            if hi.count(0) != cols or lo.count(0) + lo.count(1) != cols:
                for c in range(cols):
                    if hi[c] != 0 or lo[c] > 1:
                        v = (hi[c] << 8) | lo[c]
                        raise BlobError(off + r * n + 2 * c, f"{fld}[{r}][{c}]", f"cell is {v}, must be 0 or 1")
            out.append(bytes(lo))
        return out


def decode(data: bytes) -> Blob:
    """Decode and fully validate a blob; raise BlobError(offset, field, message).

    The sections are checked in the order hv/xsm/acm_policy.c checks them, so both report the
    same first problem.
    """
    r = _Reader(data)
    primary = _decode_header(r)
    name, c = _decode_policy_reference(r)
    chwall = _decode_chwall(r, c)
    ste = _decode_ste(r, c + chwall.size, chwall.ssidrefs)
    _check_codes(r, primary, chwall, ste)
    e = ste.offset + ste.size
    ext = _decode_ext(r, e, chwall.ssidrefs) if e != len(data) else None
    loadable = primary == CODE_CHWALL and chwall.ssidrefs >= 2 and ste.ssidrefs >= 2
    reason = ""
    if primary != CODE_CHWALL:
        reason = f"policy codes {CODE_NAMES[primary]}/{CODE_NAMES[r.u32(24)]}: the hypervisor loads only CHWALL/STE"
    elif not loadable:
        reason = "fewer than 2 ssidrefs: no row for the bootstrap label"
    return Blob(
        size=len(data),
        name=name,
        primary=primary,
        primary_off=c,
        secondary=r.u32(24),
        secondary_off=r.u32(28),
        xml_version=(r.s32(32), r.s32(36)),
        xml_hash=bytes(data[40:60]),
        chwall=chwall,
        ste=ste,
        ext=ext,
        loadable=loadable,
        not_loadable_reason=reason,
    )


def _decode_header(r: _Reader) -> int:
    """The fixed header up to the primary policy code (returned)."""
    size = len(r.d)
    if size < HEADER_SIZE:
        raise BlobError(0, "header", f"blob is {size} bytes, shorter than the {HEADER_SIZE}-byte header")
    r.expect(0, "magic", ACM_MAGIC)
    r.expect(4, "policy_version", ACM_POLICY_VERSION)
    length = r.u32(8)
    if length != size:
        raise BlobError(8, "len", f"is {length}, but the blob is {size} bytes")
    if size > MAX_POLICY_SIZE:
        raise BlobError(8, "len", f"is {size}, at most {MAX_POLICY_SIZE} allowed")
    r.expect(12, "policy_reference_offset", HEADER_SIZE)
    primary = r.u32(16)
    if primary not in (CODE_CHWALL, CODE_STE, CODE_UNDEFINED):
        raise BlobError(16, "primary_policy_code", f"is {primary}, expected 1 (CHWALL), 2 (STE) or 15")
    return primary


def _decode_policy_reference(r: _Reader) -> tuple[str, int]:
    """The policy's name and the offset of the CHWALL section that follows it."""
    data = r.d
    r.need(60, 4, "policy_reference.len")
    nlen = r.u32(60)
    if nlen < 1 or nlen > MAX_NAME_LEN + 1:
        raise BlobError(60, "policy_reference.len", f"is {nlen}, must be 1..{MAX_NAME_LEN + 1}")
    pr_size = roundup8(4 + nlen)
    r.need(60, pr_size, "policy_reference.len")
    name_b = data[64 : 64 + nlen - 1]
    for i, b in enumerate(name_b):
        if b == 0 or b >= 0x80:
            raise BlobError(64 + i, "policy_reference.name", f"byte {b:#04x} is not a non-NUL ASCII character")
    if data[64 + nlen - 1] != 0:
        raise BlobError(64 + nlen - 1, "policy_reference.name", "name is not NUL-terminated")
    r.zeros(64 + nlen, 60 + pr_size, "policy_reference.padding")
    c = 60 + pr_size
    r.expect(20, "primary_buffer_offset", c)
    return name_b.decode("ascii"), c


def _decode_chwall(r: _Reader, c: int) -> Chwall:
    """The CHWALL section (always present, whatever the policy codes say)."""
    r.need(c, CHWALL_HEADER_SIZE, "chwall.header")
    r.expect(c, "chwall.policy_version", ACM_CHWALL_VERSION)
    r.expect(c + 4, "chwall.policy_code", CODE_CHWALL)
    tc = r.bounded(c + 8, "chwall.max_types", MAX_TYPES)
    rc = r.bounded(c + 12, "chwall.max_ssidrefs", MAX_SSIDREFS)
    k = r.bounded(c + 16, "chwall.max_conflictsets", MAX_CONFLICT_SETS)
    r.expect(c + 20, "chwall.ssid_offset", CHWALL_HEADER_SIZE)
    r.expect(c + 24, "chwall.conflict_sets_offset", CHWALL_HEADER_SIZE + 2 * tc * rc)
    r.expect(c + 28, "chwall.running_types_offset", 0)
    r.expect(c + 32, "chwall.conflict_aggregate_offset", 0)
    body = CHWALL_HEADER_SIZE + 2 * tc * rc + 2 * tc * k
    size = roundup8(body)
    r.need(c, size, "chwall")
    ssid = r.matrix(c + CHWALL_HEADER_SIZE, rc, tc, "chwall.ssidrefs")
    conflict = r.matrix(c + CHWALL_HEADER_SIZE + 2 * tc * rc, k, tc, "chwall.conflict_sets")
    r.zeros(c + body, c + size, "chwall.padding")
    return Chwall(c, tc, rc, k, ssid, conflict, size)


def _decode_ste(r: _Reader, s: int, rc: int) -> Ste:
    """The STE section; it has a row for every CHWALL ssidref (VM label) and more for resources."""
    r.need(s, STE_HEADER_SIZE, "ste.header")
    r.expect(s, "ste.policy_version", ACM_STE_VERSION)
    r.expect(s + 4, "ste.policy_code", CODE_STE)
    ts = r.bounded(s + 8, "ste.max_types", MAX_TYPES)
    rs = r.bounded(s + 12, "ste.max_ssidrefs", MAX_SSIDREFS)
    if rs < rc:
        raise BlobError(s + 12, "ste.max_ssidrefs", f"is {rs}, less than the {rc} CHWALL ssidrefs (VM labels)")
    r.expect(s + 16, "ste.ssid_offset", STE_HEADER_SIZE)
    body = STE_HEADER_SIZE + 2 * ts * rs
    size = roundup8(body)
    r.need(s, size, "ste")
    ssid = r.matrix(s + STE_HEADER_SIZE, rs, ts, "ste.ssidrefs")
    r.zeros(s + body, s + size, "ste.padding")
    return Ste(s, ts, rs, ssid, size)


def _check_codes(r: _Reader, primary: int, chwall: Chwall, ste: Ste) -> None:
    """Policy codes and the secondary offset: exactly the combinations Xen 4.1's compiler writes."""
    tc, ts = chwall.types, ste.types
    if primary == CODE_CHWALL:
        if tc == 0:
            raise BlobError(16, "primary_policy_code", "is CHWALL but there are no CHWALL types")
        r.expect(24, "secondary_policy_code", CODE_STE)
        r.expect(28, "secondary_buffer_offset", ste.offset)
    elif primary == CODE_STE:
        if tc != 0 or ts == 0:
            raise BlobError(16, "primary_policy_code", "is STE but the policy is not STE-only")
        r.expect(24, "secondary_policy_code", CODE_UNDEFINED)
        r.expect(28, "secondary_buffer_offset", chwall.offset + ste.size)
    else:
        if tc != 0 or ts != 0:
            raise BlobError(16, "primary_policy_code", "is UNDEFINED but the policy has types")
        r.expect(24, "secondary_policy_code", CODE_UNDEFINED)
        r.expect(28, "secondary_buffer_offset", chwall.offset)


def _decode_ext(r: _Reader, e: int, rc: int) -> Ext:
    """The moat extension, with the checks of hv/xsm/acm_policy.c's parse_ext, in its order."""
    r.need(e, EXT_HEADER_SIZE, "ext.header")
    r.expect(e, "ext.magic", EXT_MAGIC)
    r.expect(e + 4, "ext.version", EXT_VERSION)
    length = r.u32(e + 8)
    if length < EXT_HEADER_SIZE or length % 8 or e + length != len(r.d):
        raise BlobError(e + 8, "ext.len", f"is {length}, but {len(r.d) - e} bytes follow the STE section")
    n = r.bounded(e + 12, "ext.sections", EXT_MAX_SECTIONS)
    rows, words = rc, (rc + 31) // 32
    flags_at: int | None = None
    devices_at: int | None = None
    quotas_at: int | None = None
    sched_at: int | None = None
    targets_at: dict[str, tuple[int, int]] = {}  # permission -> (cells offset, section index)
    o, end, prev = e + EXT_HEADER_SIZE, e + length, 0
    for i in range(n):
        if o + EXT_SECTION_HEADER_SIZE > end:
            raise BlobError(o, f"ext.section.header[{i}]", "runs past the end of the extension")
        typ, slen = r.u32(o), r.u32(o + 4)
        if typ not in (SEC_PERMISSIONS, SEC_DEVICES, SEC_QUOTAS, SEC_SCHED) and typ not in SEC_TARGETS:
            raise BlobError(o, f"ext.section.type[{i}]", f"is {typ}, an unknown section type")
        if typ <= prev:
            raise BlobError(o, f"ext.section.type[{i}]", f"is {typ}: out of order or repeated")
        if slen % 8 or o + slen > end:
            raise BlobError(o + 4, f"ext.section.len[{i}]", f"is {slen}: runs past the end of the extension")
        if typ in (SEC_QUOTAS, SEC_SCHED):
            if typ == SEC_QUOTAS:
                quotas_at = _decode_quotas(r, o, i, slen, rows)
            else:
                sched_at = _decode_sched(r, o, i, slen, rows)
            prev = typ
            o += slen
            continue
        devices = typ == SEC_DEVICES
        perms = typ == SEC_PERMISSIONS or devices
        width = 1 if perms else words
        if slen < 16:
            raise BlobError(o + 4, f"ext.section.len[{i}]", f"is {slen}, shorter than its header")
        if r.u32(o + 8) != rows:
            raise BlobError(o + 8, f"ext.section.rows[{i}]", f"is {r.u32(o + 8)}, expected the {rows} CHWALL ssidrefs")
        if r.u32(o + 12) != (0 if perms else words):
            raise BlobError(o + 12, f"ext.section.{'reserved' if perms else 'words'}[{i}]",
                            f"is {r.u32(o + 12)}, expected {0 if perms else words}")
        if slen != roundup8(16 + 4 * rows * width):
            raise BlobError(o + 4, f"ext.section.len[{i}]", f"is {slen}: does not match its rows")
        cells = o + 16
        table = r.words(cells, rows * width)
        if devices or perms:
            known, what = (DEVICES_ALL, "device") if devices else (PERM_ALL, "permission")
            for row, m in enumerate(table):
                if m & ~known:
                    raise BlobError(cells + 4 * row, f"ext.{'devices' if devices else 'flags'}[{row}]",
                                    f"is {m:#x}, unknown {what} bits")
        elif rows % 32:
            for row, last in enumerate(table[words - 1::words]):
                if last >> (rows % 32):
                    raise BlobError(cells + 4 * (row * words + words - 1), f"ext.targets[{i}][{row}]",
                                    f"has bits beyond row {rows - 1}")
        r.zeros(cells + 4 * rows * width, o + slen, "ext.padding")
        if devices and not any(table):
            raise BlobError(o, f"ext.section.type[{i}]", "a devices section that gives no device")
        if devices:
            devices_at = cells
        elif perms:
            flags_at = cells
        else:
            targets_at[SEC_TARGETS[typ]] = (cells, i)
        prev = typ
        o += slen
    if o != end:
        raise BlobError(e + 12, "ext.sections", f"is {n}: the sections do not fill the extension")
    if flags_at is None:
        raise BlobError(e + 12, "ext.sections", "no permissions section")
    flags = list(r.words(flags_at, rows))
    device_masks = list(r.words(devices_at, rows)) if devices_at is not None else [0] * rows
    nf = len(QUOTA_FIELDS)
    if quotas_at is not None:
        cells_q = r.words(quotas_at, rows * nf)
        quotas = [list(cells_q[row * nf:(row + 1) * nf]) for row in range(rows)]
    else:
        quotas = [[QUOTA_UNLIMITED] * nf for _ in range(rows)]
    ns = len(SCHED_FIELDS)
    if sched_at is not None:
        cells_s = r.words(sched_at, rows * ns)
        sched = [list(cells_s[row * ns:(row + 1) * ns]) for row in range(rows)]
    else:
        sched = [[0] * ns for _ in range(rows)]
    targets: dict[str, list[list[int]]] = {}
    for name in TARGETED:
        per_row: list[list[int]] = [[] for _ in range(rows)]
        at = targets_at.get(name)
        if at is not None:
            bitmaps = r.words(at[0], rows * words)
            for row in range(rows):
                for w in range(words):
                    bits = bitmaps[row * words + w]
                    while bits:
                        low = bits & -bits
                        per_row[row].append(32 * w + low.bit_length() - 1)
                        bits ^= low
        for row in range(rows):
            if bool(per_row[row]) != bool(flags[row] & PERM_NAMES[name]):
                raise BlobError(flags_at + 4 * row, f"ext.flags[{row}]",
                                f"disagrees with the target section of {name}")
        if at is not None and not any(per_row):
            raise BlobError(at[0] - 16, f"ext.section.type[{at[1]}]", f"the {name} section names no one")
        targets[name] = per_row
    return Ext(e, EXT_VERSION, rows, n, flags, device_masks, quotas, sched, targets, length)


def _row_table_header(r: _Reader, o: int, i: int, slen: int, rows: int, nf: int,
                      max_rows: int | None = None) -> tuple[int, int]:
    """The header checks of a section that is a table of nf words per label row (QUOTAS, SCHED;
    hv/xsm/acm_policy.c's row_table_header): its cells' offset and their end."""
    if slen < 16:
        raise BlobError(o + 4, f"ext.section.len[{i}]", f"is {slen}, shorter than its header")
    if r.u32(o + 8) != rows:
        raise BlobError(o + 8, f"ext.section.rows[{i}]", f"is {r.u32(o + 8)}, expected the {rows} CHWALL ssidrefs")
    if max_rows is not None and rows > max_rows:
        raise BlobError(o + 8, f"ext.section.rows[{i}]", f"is {rows}: quotas work for at most {max_rows} labels")
    if r.u32(o + 12) != nf:
        raise BlobError(o + 12, f"ext.section.fields[{i}]", f"is {r.u32(o + 12)}, expected {nf}")
    cells, end = o + 16, o + 16 + 4 * rows * nf
    if slen != roundup8(end - o):
        raise BlobError(o + 4, f"ext.section.len[{i}]", f"is {slen}: does not match its rows")
    return cells, end


def _decode_quotas(r: _Reader, o: int, i: int, slen: int, rows: int) -> int:
    """The QUOTAS section at o (the checks of hv/xsm/acm_policy.c's parse_quotas); its cells' offset."""
    cells, end = _row_table_header(r, o, i, slen, rows, len(QUOTA_FIELDS), QUOTA_MAX_ROWS)
    r.zeros(end, o + slen, "ext.padding")
    if all(c == QUOTA_UNLIMITED for c in r.words(cells, (end - cells) // 4)):
        raise BlobError(o, f"ext.section.type[{i}]", "a quotas section that limits nothing")
    return cells


def _decode_sched(r: _Reader, o: int, i: int, slen: int, rows: int) -> int:
    """The SCHED section at o (the checks of hv/xsm/acm_policy.c's parse_sched); its cells' offset."""
    nf = len(SCHED_FIELDS)
    cells, end = _row_table_header(r, o, i, slen, rows, nf)
    table = r.words(cells, rows * nf)
    limits = [SCHED_MAX[name] for name in SCHED_FIELDS]
    for k, v in enumerate(table):
        if v > limits[k % nf]:
            raise BlobError(cells + 4 * k, f"ext.sched.{SCHED_FIELDS[k % nf]}[{k // nf}]",
                            f"is {v}, above {limits[k % nf]}")
    r.zeros(end, o + slen, "ext.padding")
    if not any(table):
        raise BlobError(o, f"ext.section.type[{i}]", "a sched section that sets nothing")
    return cells
