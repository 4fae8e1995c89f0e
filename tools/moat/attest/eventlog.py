# SPDX-License-Identifier: MIT
"""TCG crypto-agile event logs (TCG PC Client Platform Firmware Profile) and moat's events.

A log starts with a TCG_PCClientPCREvent in the SHA-1 format holding the Spec ID event
("Spec ID Event03"), which lists the digest algorithms and their sizes; then TCG_PCR_EVENT2
records: pcr u32, type u32, digest count u32, {alg u16, digest}, event size u32, event.
All little-endian. The firmware's log (SeaBIOS) and the hypervisor's (hv/core/measure.c) both
use it; moat's records are EV_EVENT_TAG events described in hv/include/public/measure.h.

Everything here raises AttestError with what is wrong and where: a log comes from the agent,
which the verifier does not trust.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from moat.attest import AttestError
from moat.devices import DEVICES

ALG_SHA1 = 0x0004
ALG_SHA256 = 0x000B
DIGEST_SIZES = {ALG_SHA1: 20, ALG_SHA256: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32}

EV_NO_ACTION = 0x00000003
EV_SEPARATOR = 0x00000004
EV_EVENT_TAG = 0x00000006

# hv/include/public/measure.h
PCR_HYPERVISOR = 20
PCR_BOOT = 21
PCR_RUNTIME = 22
FIRMWARE_PCRS = tuple(range(8))
MOAT_PCRS = (PCR_HYPERVISOR, PCR_BOOT, PCR_RUNTIME)
QUOTED_PCRS = FIRMWARE_PCRS + MOAT_PCRS

TAG_HYPERVISOR = 0x4D4F0001
TAG_CMDLINE = 0x4D4F0002
TAG_MANIFEST = 0x4D4F0003
TAG_POLICY = 0x4D4F0004
TAG_DOMAIN = 0x4D4F0005
TAG_RELABEL = 0x4D4F0006
TAG_NAMES = {TAG_HYPERVISOR: "hypervisor", TAG_CMDLINE: "command line", TAG_MANIFEST: "manifest",
             TAG_POLICY: "policy", TAG_DOMAIN: "domain", TAG_RELABEL: "relabel"}

POLICY_MODES = {0: "boot", 1: "refuse", 2: "revoke"}
NO_CREATOR = 0xFFFFFFFF

MAX_LOG = 1 << 20
MAX_EVENT = 1 << 16

# Records (little-endian), as hv/include/public/measure.h lays them out.
IMAGE = struct.Struct("<32sI28s")
POLICY = struct.Struct("<32sIiiI64s")
DOMAIN = struct.Struct("<32s7I32s256s")
RELABEL = struct.Struct("<3I32s")


def initial_value(pcr: int) -> bytes:
    """A PCR's value before any extend: PCRs 17-22 start at all ones, but the hypervisor resets
    20-22 from locality 2 before it measures (so they start at zero like the others)."""
    return b"\0" * 32


def extend(value: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(value + digest).digest()


@dataclass(frozen=True)
class Event:
    index: int           # position in the log (the Spec ID header is not counted)
    offset: int          # byte offset of the record
    pcr: int
    type: int
    digests: dict[int, bytes]
    data: bytes

    @property
    def sha256(self) -> bytes | None:
        return self.digests.get(ALG_SHA256)


@dataclass
class EventLog:
    name: str
    algorithms: dict[int, int]
    events: list[Event] = field(default_factory=list)

    def replay(self, pcrs: Iterable[int]) -> dict[int, bytes]:
        """The SHA-256 value each PCR would have after the log's events."""
        values = {p: initial_value(p) for p in pcrs}
        for ev in self.events:
            if ev.pcr in values and ev.type != EV_NO_ACTION:
                if ev.sha256 is None:
                    raise AttestError(f"{self.name} log: event {ev.index} (PCR {ev.pcr}) has no SHA-256 digest")
                values[ev.pcr] = extend(values[ev.pcr], ev.sha256)
        return values


def _u32(data: bytes, off: int, what: str, log: str) -> int:
    if off + 4 > len(data):
        raise AttestError(f"{log} log: truncated at byte {off} ({what})")
    return int(struct.unpack_from("<I", data, off)[0])


def parse(data: bytes, name: str) -> EventLog:
    """Parse a whole crypto-agile log; AttestError names the byte and the field that are wrong."""
    if len(data) > MAX_LOG:
        raise AttestError(f"{name} log: {len(data)} bytes, more than {MAX_LOG}")
    if len(data) < 32:
        raise AttestError(f"{name} log: {len(data)} bytes, shorter than its header event")
    pcr, typ = struct.unpack_from("<II", data, 0)
    hdr_size = _u32(data, 28, "header event size", name)
    if typ != EV_NO_ACTION or pcr != 0 or 32 + hdr_size > len(data) or hdr_size < 29:
        raise AttestError(f"{name} log: the first event is not a Spec ID event (EV_NO_ACTION in PCR 0)")
    spec = data[32:32 + hdr_size]
    if spec[:16] != b"Spec ID Event03\0":
        raise AttestError(f"{name} log: not a crypto-agile log (no 'Spec ID Event03' header)")
    nalg = _u32(spec, 24, "numberOfAlgorithms", name)
    if not 1 <= nalg <= 8 or 28 + 4 * nalg > len(spec):
        raise AttestError(f"{name} log: Spec ID event lists {nalg} algorithms")
    algs: dict[int, int] = {}
    for i in range(nalg):
        alg, size = struct.unpack_from("<HH", spec, 28 + 4 * i)
        if DIGEST_SIZES.get(alg, size) != size or size == 0 or size > 64:
            raise AttestError(f"{name} log: Spec ID event gives algorithm {alg:#06x} digest size {size}")
        algs[alg] = size
    if ALG_SHA256 not in algs:
        raise AttestError(f"{name} log: no SHA-256 bank in the Spec ID event")
    log = EventLog(name, algs)
    off = 32 + hdr_size
    while off < len(data):
        start = off
        pcr = _u32(data, off, "pcr index", name)
        typ = _u32(data, off + 4, "event type", name)
        count = _u32(data, off + 8, "digest count", name)
        if pcr > 23:
            raise AttestError(f"{name} log: event {len(log.events)} at byte {start}: PCR index {pcr}")
        if not 1 <= count <= len(algs):
            raise AttestError(f"{name} log: event {len(log.events)} at byte {start}: {count} digests")
        off += 12
        digests: dict[int, bytes] = {}
        for _ in range(count):
            if off + 2 > len(data):
                raise AttestError(f"{name} log: truncated at byte {off} (digest algorithm)")
            alg = int(struct.unpack_from("<H", data, off)[0])
            size = algs.get(alg)
            if size is None or alg in digests:
                raise AttestError(f"{name} log: event {len(log.events)} at byte {start}: "
                                  f"digest algorithm {alg:#06x} not in the header, or twice")
            if off + 2 + size > len(data):
                raise AttestError(f"{name} log: truncated at byte {off} (digest)")
            digests[alg] = bytes(data[off + 2:off + 2 + size])
            off += 2 + size
        esize = _u32(data, off, "event size", name)
        off += 4
        if esize > MAX_EVENT or off + esize > len(data):
            raise AttestError(f"{name} log: event {len(log.events)} at byte {start}: "
                              f"event data of {esize} bytes runs past the end")
        log.events.append(Event(len(log.events), start, pcr, typ, digests, bytes(data[off:off + esize])))
        off += esize
    return log


# ---------------------------------------------------------------------------- moat's events

def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def device_names(mask: int) -> list[str]:
    return [n for i, n in enumerate(DEVICES) if mask >> i & 1] + [f"bit{i}" for i in range(len(DEVICES), 32)
                                                                 if mask >> i & 1]


@dataclass(frozen=True)
class MoatEvent:
    """One of moat's measurements, decoded (its digest checked against its data)."""

    event: Event
    tag: int
    fields: dict[str, object]

    @property
    def kind(self) -> str:
        return TAG_NAMES.get(self.tag, f"tag {self.tag:#x}")

    def describe(self) -> str:
        f = self.fields
        if self.tag == TAG_DOMAIN:
            return f"domain {f['name']}"
        if self.tag == TAG_POLICY:
            return f"policy {f['name']!r} {f['version']}"
        if self.tag == TAG_RELABEL:
            return f"relabel of domain {f['name']}"
        return self.kind


def decode_moat(ev: Event, log: str = "hypervisor") -> MoatEvent | None:
    """A moat EV_EVENT_TAG event's fields; None for a separator. The digest must be the SHA-256 of
    the event data: otherwise the log says something the PCR does not hold."""
    if ev.type == EV_SEPARATOR:
        if ev.data != b"\0\0\0\0" or ev.sha256 != hashlib.sha256(ev.data).digest():
            raise AttestError(f"{log} log: event {ev.index}: a separator that is not the standard one")
        return None
    if ev.type != EV_EVENT_TAG:
        raise AttestError(f"{log} log: event {ev.index}: type {ev.type:#x} is not one moat writes")
    if ev.sha256 != hashlib.sha256(ev.data).digest():
        raise AttestError(f"{log} log: event {ev.index} (PCR {ev.pcr}): its digest is not the SHA-256 of its "
                          f"data: the log says something the PCR does not hold")
    if len(ev.data) < 8:
        raise AttestError(f"{log} log: event {ev.index}: tagged event shorter than its header")
    tag, size = struct.unpack_from("<II", ev.data)
    body = ev.data[8:]
    if size != len(body):
        raise AttestError(f"{log} log: event {ev.index}: tagged event size {size}, {len(body)} bytes follow")
    layouts = {TAG_HYPERVISOR: IMAGE, TAG_MANIFEST: IMAGE, TAG_POLICY: POLICY, TAG_DOMAIN: DOMAIN,
               TAG_RELABEL: RELABEL}
    want = layouts.get(tag)
    if tag == TAG_CMDLINE:
        return MoatEvent(ev, tag, {"cmdline": body.decode("utf-8", errors="replace")})
    if want is None:
        raise AttestError(f"{log} log: event {ev.index}: unknown moat tag {tag:#x}")
    if len(body) != want.size:
        raise AttestError(f"{log} log: event {ev.index} ({TAG_NAMES[tag]}): {len(body)} bytes, expected {want.size}")
    v = want.unpack(body)
    fields: dict[str, object]
    if tag in (TAG_HYPERVISOR, TAG_MANIFEST):
        fields = {"sha256": v[0].hex(), "size": v[1], "name": _cstr(v[2])}
    elif tag == TAG_POLICY:
        fields = {"sha256": v[0].hex(), "size": v[1], "version": f"{v[2]}.{v[3]}",
                  "mode": POLICY_MODES.get(v[4], str(v[4])), "name": _cstr(v[5])}
    elif tag == TAG_DOMAIN:
        fields = {"image_sha256": v[0].hex(), "image_size": v[1], "domid": v[2], "ssidref": v[3],
                  "memory_kib": v[4], "devices": device_names(v[5]), "flags": v[6],
                  "creator": None if v[7] == NO_CREATOR else v[7], "name": _cstr(v[8]), "cmdline": _cstr(v[9])}
    else:
        fields = {"domid": v[0], "old_ssidref": v[1], "new_ssidref": v[2], "name": _cstr(v[3])}
    return MoatEvent(ev, tag, fields)


# ---------------------------------------------------------------------------- building events

def tagged(tag: int, body: bytes) -> bytes:
    return struct.pack("<II", tag, len(body)) + body


def image_event(tag: int, data: bytes, name: str) -> bytes:
    return tagged(tag, IMAGE.pack(hashlib.sha256(data).digest(), len(data), name.encode()[:27]))


def policy_event(blob: bytes, name: str, major: int, minor: int, mode: int) -> bytes:
    return tagged(TAG_POLICY, POLICY.pack(hashlib.sha256(blob).digest(), len(blob), major, minor, mode,
                                          name.encode()[:63]))


def domain_event(*, image: bytes, domid: int, ssidref: int, memory_kib: int, devices: int, flags: int,
                 creator: int | None, name: str, cmdline: str) -> bytes:
    return tagged(TAG_DOMAIN, DOMAIN.pack(hashlib.sha256(image).digest(), len(image), domid, ssidref, memory_kib,
                                          devices, flags, NO_CREATOR if creator is None else creator,
                                          name.encode()[:31], cmdline.encode()[:255]))


def spec_id_header() -> bytes:
    spec = b"Spec ID Event03\0" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1) + struct.pack("<HH", ALG_SHA256, 32) + b"\0"
    return struct.pack("<II20sI", 0, EV_NO_ACTION, b"\0" * 20, len(spec)) + spec


def record(pcr: int, typ: int, data: bytes) -> bytes:
    return (struct.pack("<IIIH", pcr, typ, 1, ALG_SHA256) + hashlib.sha256(data).digest()
            + struct.pack("<I", len(data)) + data)


SEPARATOR = b"\0\0\0\0"
