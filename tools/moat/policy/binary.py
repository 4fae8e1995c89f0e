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

from .model import (
    MAX_CONFLICT_SETS,
    MAX_NAME_LEN,
    MAX_POLICY_SIZE,
    MAX_SSIDREFS,
    MAX_TYPES,
    PERM_ALL,
    PERM_DOMAIN_CREATE,
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
EXT_VERSION = 1
EXT_HEADER_SIZE = 32

CODE_NAMES = {0: "NULL", 1: "CHWALL", 2: "STE", 15: "UNDEFINED"}


def roundup8(n: int) -> int:
    return (n + 7) & ~7


def _polref_len(name: str) -> int:
    return roundup8(4 + len(name.encode("ascii", "replace")) + 1)


def _ext_len(rows: int) -> int:
    words = (rows + 31) // 32
    return roundup8(EXT_HEADER_SIZE + 4 * rows + 4 * rows * words)


def blob_size(p: Policy, num: Numbering | None = None) -> int:
    num = num or numbering(p)
    tc, rc, k = len(num.chwall_types), num.chwall_ssidrefs, len(num.conflict_sets)
    ts, rs = len(num.ste_types), num.ste_ssidrefs
    size = HEADER_SIZE + _polref_len(p.name)
    size += roundup8(CHWALL_HEADER_SIZE + 2 * tc * rc + 2 * tc * k)
    size += roundup8(STE_HEADER_SIZE + 2 * ts * rs)
    if p.uses_permissions():
        size += _ext_len(rc)
    return size


def _matrix(rows: list[list[str] | None], cols: list[str]) -> bytearray:
    t = len(cols)
    index = {c: i for i, c in enumerate(cols)}
    m = bytearray(2 * t * len(rows))
    for r, names in enumerate(rows):
        if not names:
            continue
        base = 2 * t * r + 1
        for n in names:
            j = index.get(n)
            if j is not None:
                m[base + 2 * j] = 1
    return m


def _pad(b: bytes | bytearray) -> bytes:
    return bytes(b) + b"\0" * (roundup8(len(b)) - len(b))


def compile_policy(p: Policy, num: Numbering | None = None) -> bytes:
    """Compile a (checked) policy.  Follows Xen 4.1's policy_create_map_and_bin()."""
    num = num or numbering(p)
    name = p.name.encode("ascii")
    polref = _pad(struct.pack("!I", len(name) + 1) + name + b"\0")
    tc, rc, k = len(num.chwall_types), num.chwall_ssidrefs, len(num.conflict_sets)
    ts, rs = len(num.ste_types), num.ste_ssidrefs
    vm_chw = [[t.name for t in v.chwall] if v else None for v in num.vm_by_row]
    vm_ste = [[t.name for t in v.ste] if v else None for v in num.vm_by_row]
    res_ste: list[list[str] | None] = [[t.name for t in (r.ste or [])] for r in num.res_by_row]
    chw = bytearray(
        struct.pack(
            "!9i",
            ACM_CHWALL_VERSION,
            CODE_CHWALL,
            tc,
            rc,
            k,
            CHWALL_HEADER_SIZE,
            CHWALL_HEADER_SIZE + 2 * tc * rc,
            0,
            0,
        )
    )
    chw += _matrix(vm_chw, num.chwall_types)
    chw += _matrix([[t.name for t in c.types] for c in num.conflict_sets], num.chwall_types)
    chw_b = _pad(chw)
    ste = bytearray(struct.pack("!5i", ACM_STE_VERSION, CODE_STE, ts, rs, STE_HEADER_SIZE))
    ste += _matrix(vm_ste + res_ste, num.ste_types)
    ste_b = _pad(ste)
    ext_b = _extension(num) if p.uses_permissions() else b""
    if tc:
        primary, secondary = CODE_CHWALL, CODE_STE
    elif ts:
        primary, secondary = CODE_STE, CODE_UNDEFINED
    else:
        primary, secondary = CODE_UNDEFINED, CODE_UNDEFINED
    primary_off = HEADER_SIZE + len(polref)
    if primary == CODE_CHWALL:
        secondary_off = primary_off + len(chw_b)
    elif primary == CODE_STE:
        secondary_off = primary_off + len(ste_b)  # Xen 4.1's bug, kept for byte identity
    else:
        secondary_off = primary_off
    ver = parse_version(p.version)
    if ver is None:
        raise ValueError(f"bad version {p.version!r}")
    total = HEADER_SIZE + len(polref) + len(chw_b) + len(ste_b) + len(ext_b)
    hdr = struct.pack(
        "!iiiiiiiiii20s",
        ACM_MAGIC,
        ACM_POLICY_VERSION,
        total,
        HEADER_SIZE,
        primary,
        primary_off,
        secondary,
        secondary_off,
        ver[0],
        ver[1],
        p.xml_hash,
    )
    return hdr + polref + chw_b + ste_b + ext_b


def _extension(num: Numbering) -> bytes:
    rows = num.chwall_ssidrefs
    words = (rows + 31) // 32
    row_of = {n: i for i, n in enumerate(num.vm_rows)}
    flags = []
    create = bytearray()
    for v in num.vm_by_row:
        perm = v.permissions if v else None
        bits = [0] * words
        if perm is not None:
            for t in perm.create:
                r = row_of.get(t.name)
                if r is not None:
                    bits[r // 32] |= 1 << (r % 32)
        f = perm.flags() if perm else 0
        if not any(bits):
            f &= ~PERM_DOMAIN_CREATE
        flags.append(f)
        create += struct.pack(f"!{words}I", *bits)
    body = struct.pack(
        "!8I", EXT_MAGIC, EXT_VERSION, _ext_len(rows), rows, EXT_HEADER_SIZE, EXT_HEADER_SIZE + 4 * rows, words, 0
    )
    body += struct.pack(f"!{rows}I", *flags) + create
    return _pad(body)


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
    flags: list[int]
    create: list[list[int]]  # per row: the rows it may create
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
                "flags": self.ext.flags,
                "create": self.ext.create,
            },
        }


_CELLCHARS = bytes.maketrans(b"\x00\x01", b"01")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.d = data

    def u32(self, off: int) -> int:
        return int.from_bytes(self.d[off : off + 4], "big")

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
    """Decode and fully validate a blob; raise BlobError(offset, field, message)."""
    r = _Reader(data)
    size = len(data)
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
    # policy reference
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
    # CHWALL section (always present, whatever the codes say)
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
    c_size = roundup8(body)
    r.need(c, c_size, "chwall")
    cssid = r.matrix(c + CHWALL_HEADER_SIZE, rc, tc, "chwall.ssidrefs")
    cconf = r.matrix(c + CHWALL_HEADER_SIZE + 2 * tc * rc, k, tc, "chwall.conflict_sets")
    r.zeros(c + body, c + c_size, "chwall.padding")
    # STE section
    s = c + c_size
    r.need(s, STE_HEADER_SIZE, "ste.header")
    r.expect(s, "ste.policy_version", ACM_STE_VERSION)
    r.expect(s + 4, "ste.policy_code", CODE_STE)
    ts = r.bounded(s + 8, "ste.max_types", MAX_TYPES)
    rs = r.bounded(s + 12, "ste.max_ssidrefs", MAX_SSIDREFS)
    if rs < rc:
        raise BlobError(s + 12, "ste.max_ssidrefs", f"is {rs}, less than the {rc} CHWALL ssidrefs (VM labels)")
    r.expect(s + 16, "ste.ssid_offset", STE_HEADER_SIZE)
    body = STE_HEADER_SIZE + 2 * ts * rs
    s_size = roundup8(body)
    r.need(s, s_size, "ste")
    sssid = r.matrix(s + STE_HEADER_SIZE, rs, ts, "ste.ssidrefs")
    r.zeros(s + body, s + s_size, "ste.padding")
    e = s + s_size
    # policy codes: exactly the combinations Xen 4.1's compiler writes
    if primary == CODE_CHWALL:
        if tc == 0:
            raise BlobError(16, "primary_policy_code", "is CHWALL but there are no CHWALL types")
        r.expect(24, "secondary_policy_code", CODE_STE)
        r.expect(28, "secondary_buffer_offset", s)
    elif primary == CODE_STE:
        if tc != 0 or ts == 0:
            raise BlobError(16, "primary_policy_code", "is STE but the policy is not STE-only")
        r.expect(24, "secondary_policy_code", CODE_UNDEFINED)
        r.expect(28, "secondary_buffer_offset", c + s_size)
    else:
        if tc != 0 or ts != 0:
            raise BlobError(16, "primary_policy_code", "is UNDEFINED but the policy has types")
        r.expect(24, "secondary_policy_code", CODE_UNDEFINED)
        r.expect(28, "secondary_buffer_offset", c)
    ext = None
    if e != size:
        ext = _decode_ext(r, e, rc)
    name = name_b.decode("ascii")
    loadable = primary == CODE_CHWALL and rc >= 2 and rs >= 2
    reason = ""
    if primary != CODE_CHWALL:
        reason = f"policy codes {CODE_NAMES[primary]}/{CODE_NAMES[r.u32(24)]}: the hypervisor loads only CHWALL/STE"
    elif not loadable:
        reason = "fewer than 2 ssidrefs: no row for the bootstrap label"
    return Blob(
        size=size,
        name=name,
        primary=primary,
        primary_off=c,
        secondary=r.u32(24),
        secondary_off=r.u32(28),
        xml_version=(r.s32(32), r.s32(36)),
        xml_hash=bytes(data[40:60]),
        chwall=Chwall(c, tc, rc, k, cssid, cconf, c_size),
        ste=Ste(s, ts, rs, sssid, s_size),
        ext=ext,
        loadable=loadable,
        not_loadable_reason=reason,
    )


def _decode_ext(r: _Reader, e: int, rc: int) -> Ext:
    r.need(e, EXT_HEADER_SIZE, "ext.header")
    r.expect(e, "ext.magic", EXT_MAGIC)
    r.expect(e + 4, "ext.version", EXT_VERSION)
    rows = r.u32(e + 12)
    if rows != rc:
        raise BlobError(e + 12, "ext.max_ssidrefs", f"is {rows}, expected the {rc} CHWALL ssidrefs")
    words = (rows + 31) // 32
    total = _ext_len(rows)
    r.expect(e + 8, "ext.len", total)  # also equals len - offset, checked next
    if e + total != len(r.d):
        raise BlobError(e + 8, "ext.len", f"is {total}, but {len(r.d) - e} bytes follow the STE section")
    r.expect(e + 16, "ext.flags_offset", EXT_HEADER_SIZE)
    r.expect(e + 20, "ext.create_offset", EXT_HEADER_SIZE + 4 * rows)
    r.expect(e + 24, "ext.create_words", words)
    r.expect(e + 28, "ext.reserved", 0)
    flags = []
    create: list[list[int]] = []
    fo = e + EXT_HEADER_SIZE
    co = fo + 4 * rows
    for i in range(rows):
        f = r.u32(fo + 4 * i)
        if f & ~PERM_ALL:
            raise BlobError(fo + 4 * i, f"ext.flags[{i}]", f"is {f:#x}, unknown permission bits")
        targets = []
        for w in range(words):
            off = co + 4 * (i * words + w)
            bits = r.u32(off)
            if w == words - 1 and rows % 32 and bits >> (rows % 32):
                raise BlobError(off, f"ext.create[{i}][{w}]", f"is {bits:#x}, has bits beyond row {rows - 1}")
            for b in range(32):
                if bits >> b & 1:
                    targets.append(32 * w + b)
        if bool(f & PERM_DOMAIN_CREATE) != bool(targets):
            raise BlobError(fo + 4 * i, f"ext.flags[{i}]", "CREATE bit disagrees with the create bitmap")
        flags.append(f)
        create.append(targets)
    r.zeros(co + 4 * rows * words, e + total, "ext.padding")
    return Ext(e, EXT_VERSION, rows, flags, create, total)
