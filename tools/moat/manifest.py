# SPDX-License-Identifier: MIT
"""The boot manifest (hv/include/public/manifest.h): scenario domains -> the binary module.

Layout (little-endian, version 2): a 40-byte header, then domain_count 320-byte domain records,
then link_count 24-byte link records (the scenario's [[link]] tables, moat.links). crc32 is
zlib.crc32 over bytes [8, total_size). The hypervisor refuses the whole manifest if anything is
off, so encode() checks every field first and raises ScenarioError naming the scenario key.

build_boot_modules() stages what `moat run` boots: module 0 is the manifest, then each distinct
image (domains' images in order of first use, then the scenario's extra `images`), then the
scenario's [[module]] entries, then the compiled security policy.
The hypervisor names a module by the base name of the first word
of its multiboot string, so modules are staged as build/modules/<key>/<name> with <name> as their
argument too (GRUB passes only the argument): the manifest is called `manifest` and an image by
its image name (e.g. `hello`). An image is staged without its debug sections (boot_image_bytes):
the hypervisor measures every byte of what it boots, and DWARF it never reads would be most of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from moat import bootpolicy, elfcheck
from moat.bootpolicy import BootPolicy
from moat.devices import DEVICES
from moat.errors import UserError
from moat.outputs import write_atomically
from moat.scenario import Domain, Scenario, ScenarioError

MANIFEST_MAGIC = 0x4E414D4D  # "MMAN"
MANIFEST_VERSION = 5  # 4: vcpus, weight and cap in the domain record; 5: vcpu_cpus
MANIFEST_MAX_DOMAINS = 64
MANIFEST_MAX_LINKS = 256
MDOM_PRIVILEGED = 1 << 0
MDOM_PINNED = 1 << 1  # runs on CPU `cpu` only
EXPECT = {"poweroff": 0, "crash": 1, "any": 2}

# struct manifest_header / struct manifest_domain / struct manifest_link, field for field.
HEADER = struct.Struct("<IIHHHHIIII2I")
DOMAIN = struct.Struct("<32s12I8s256s")
MANIFEST_MAX_VCPUS = 8
CPU_PLACED = 0xFF  # vcpu_cpus: the scheduler places that vCPU
LINK = struct.Struct("<HH6s6sII")
NAME_MAX = 32
CMDLINE_MAX = 256

# The guest window (hv/include/public/hv.h): an image must end below the guard page under the stack.
GUEST_RAM_VA = 0x400000
GUEST_PAGE_SIZE = 4096
GUEST_STACK_PAGES = 4
GUEST_RAM_MAX_KIB = 1 << 20
START_MAX_IMAGES = 16
MANIFEST_MODULE = "manifest"


@dataclass(frozen=True)
class Header:
    magic: int
    crc32: int
    version: int
    header_size: int
    domain_size: int
    domain_count: int
    total_size: int
    slice_us: int
    flags: int
    link_count: int = 0


@dataclass(frozen=True)
class LinkRecord:
    granter: int
    mapper: int
    granter_mac: bytes
    mapper_mac: bytes


@dataclass(frozen=True)
class Record:
    name: str
    image_module: int
    memory_kib: int
    ssidref: int
    flags: int
    expect: int
    max_evtchn: int
    max_grant_frames: int
    cmdline: str
    devices: int = 0  # DEVICE_* bits (hv/include/public/device.h)
    cpu: int = 0  # with MDOM_PINNED in flags: the CPU its vCPU 0 runs on
    vcpus: int = 1  # its vCPUs (hv/include/public/vcpu.h: at most MAX_VCPUS)
    weight: int = 0  # proportional share (0: the default)
    cap: int = 0  # percent of one CPU (0: none)
    vcpu_cpus: bytes = bytes([CPU_PLACED] * MANIFEST_MAX_VCPUS)  # vCPU i > 0's CPU (entry 0 unused)


def vcpu_cpus(d: Domain) -> bytes:
    """The record's vcpu_cpus: scenario `cpu = [k0, k1, ...]` pins vCPU i to k_i (vCPU 0's is `cpu`)."""
    cpus = [CPU_PLACED] * MANIFEST_MAX_VCPUS
    for i, cpu in enumerate(d.vcpu_cpus[1:], start=1):
        cpus[i] = cpu
    return bytes(cpus)


def image_names(scen: Scenario) -> list[str]:
    """Distinct image names in module order (module i + 1 is image_names(scen)[i])."""
    names: list[str] = []
    for name in [d.image_name for d in scen.domains] + [img.name for img in scen.images]:
        if name not in names:
            names.append(name)
    return names


def _cstr(text: str, size: int, scen: Scenario, key: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) >= size:
        raise ScenarioError(scen.path or "scenario", key, f"longer than {size - 1} bytes")
    return raw


def scenario_policy(scen: Scenario, build_dir: Path) -> BootPolicy:
    """The scenario's policy, compiled (moat's default policy when it names none)."""
    cache = build_dir / "policies"
    if scen.policy is None:
        return bootpolicy.default_policy(cache)
    return bootpolicy.compile_for_boot(scen.policy, cache)


def resolve_label(scen: Scenario, index: int, dom: Domain, pol: BootPolicy) -> int:
    """A domain's ssidref: its label's, a raw number, or the default for its kind.

    Without a label a privileged domain gets the policy's bootstrap label, and any other domain
    gets `domU` under the default policy; a policy of the user's own needs labels spelt out.
    """
    key = f"domain[{index}].label"
    if isinstance(dom.label, int):
        return dom.label
    name = dom.label
    if name is None:
        name = pol.bootstrap if dom.privileged else ("domU" if pol.is_default else None)
        if name is None:
            raise ScenarioError(scen.path or "scenario", key,
                                f"missing: give domain {dom.name!r} one of the policy's labels "
                                f"({', '.join(sorted(pol.labels))})")
    ssidref = pol.ssidref(name)
    if ssidref is None:
        import difflib

        close = difflib.get_close_matches(name, sorted(pol.labels), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        labels = ", ".join(sorted(pol.labels))
        raise ScenarioError(scen.path or "scenario", key,
                            f"{name!r} is not a VM label of the policy{hint}; its labels: {labels}")
    return ssidref


def records(scen: Scenario, pol: BootPolicy | None = None) -> list[Record]:
    """The manifest's domain records for scen (image modules numbered from 1)."""
    if pol is None:
        from moat import paths

        pol = scenario_policy(scen, paths.build_dir())
    if not scen.domains:
        raise ScenarioError(scen.path or "scenario", "domain", "the scenario has no [[domain]]")
    if len(scen.domains) > MANIFEST_MAX_DOMAINS:
        raise ScenarioError(scen.path or "scenario", "domain",
                            f"{len(scen.domains)} domains; at most {MANIFEST_MAX_DOMAINS}")
    modules = {name: i + 1 for i, name in enumerate(image_names(scen))}
    return [Record(name=d.name, image_module=modules[d.image_name], memory_kib=d.memory_kib,
                   ssidref=resolve_label(scen, i, d, pol),
                   flags=(MDOM_PRIVILEGED if d.privileged else 0) | (MDOM_PINNED if d.cpu is not None else 0),
                   cpu=d.cpu or 0, vcpus=d.vcpus, weight=d.weight, cap=d.cap, vcpu_cpus=vcpu_cpus(d),
                   expect=EXPECT[d.expect], max_evtchn=d.max_evtchn,
                   max_grant_frames=d.max_grant_frames, cmdline=d.cmdline, devices=device_mask(d.devices))
            for i, d in enumerate(scen.domains)]


def device_mask(names: list[str]) -> int:
    """The manifest's devices bitmask: bit n for DEVICES[n]."""
    return sum(1 << DEVICES.index(n) for n in set(names))


def link_records(scen: Scenario, pol: BootPolicy, *, refuse_forbidden: bool = True) -> list[LinkRecord]:
    """The manifest's link records: the scenario's [[link]] tables, checked (moat.links.resolve)."""
    from moat import links

    return [LinkRecord(r.granter, r.mapper, r.granter_mac, r.mapper_mac)
            for r in links.resolve(scen, pol, refuse_forbidden=refuse_forbidden)]


def encode(scen: Scenario, pol: BootPolicy | None = None, *, refuse_forbidden_links: bool = True) -> bytes:
    """The manifest module's bytes for a scenario with [[domain]] tables.

    refuse_forbidden_links=False writes links whose ends the policy does not let share, for tests
    that show the hypervisor refusing them at run time.
    """
    if pol is None:
        from moat import paths

        pol = scenario_policy(scen, paths.build_dir())
    body = bytearray()
    for i, rec in enumerate(records(scen, pol)):
        where = f"domain[{i}]"
        body += DOMAIN.pack(_cstr(rec.name, NAME_MAX, scen, f"{where}.name"), rec.image_module,
                            rec.memory_kib, rec.ssidref, rec.flags, rec.expect, rec.max_evtchn,
                            rec.max_grant_frames, rec.devices, rec.cpu, rec.vcpus, rec.weight, rec.cap,
                            rec.vcpu_cpus, _cstr(rec.cmdline, CMDLINE_MAX, scen, f"{where}.cmdline"))
    links = link_records(scen, pol, refuse_forbidden=refuse_forbidden_links)
    for link in links:
        body += LINK.pack(link.granter, link.mapper, link.granter_mac, link.mapper_mac, 0, 0)
    total = HEADER.size + len(body)
    slice_us = scen.scheduler.slice_ms * 1000
    header = HEADER.pack(MANIFEST_MAGIC, 0, MANIFEST_VERSION, HEADER.size, DOMAIN.size,
                         len(scen.domains), total, slice_us, 0, len(links), 0, 0)
    blob = bytearray(header + body)
    struct.pack_into("<I", blob, 4, zlib.crc32(blob[8:]))
    return bytes(blob)


def decode(blob: bytes) -> tuple[Header, list[Record]]:
    """Parse a manifest (the hypervisor's checks, in Python); ValueError says what is wrong."""
    header, recs, _ = decode_all(blob)
    return header, recs


def decode_all(blob: bytes) -> tuple[Header, list[Record], list[LinkRecord]]:
    """decode() and the link records."""
    if len(blob) < HEADER.size:
        raise ValueError(f"{len(blob)} bytes: shorter than the {HEADER.size}-byte header")
    fields = HEADER.unpack_from(blob)
    header = Header(*fields[:10])
    if header.magic != MANIFEST_MAGIC:
        raise ValueError(f"bad magic {header.magic:#x}")
    if header.version != MANIFEST_VERSION:
        raise ValueError(f"version {header.version}, expected {MANIFEST_VERSION}")
    if (header.header_size, header.domain_size) != (HEADER.size, DOMAIN.size):
        raise ValueError(f"record sizes {header.header_size}/{header.domain_size}, "
                         f"expected {HEADER.size}/{DOMAIN.size}")
    links_at = HEADER.size + header.domain_count * DOMAIN.size
    if header.total_size != len(blob) or header.total_size != links_at + header.link_count * LINK.size:
        raise ValueError(f"total_size {header.total_size} does not match {len(blob)} bytes / "
                         f"{header.domain_count} domains, {header.link_count} links")
    if zlib.crc32(blob[8:]) != header.crc32:
        raise ValueError(f"crc32 {header.crc32:#010x} != {zlib.crc32(blob[8:]):#010x}")
    recs = []
    for i in range(header.domain_count):
        (name, image_module, memory_kib, ssidref, flags, expect, max_evtchn, max_grant_frames, devices, cpu,
         vcpus, weight, cap, cpus, cmdline) = DOMAIN.unpack_from(blob, HEADER.size + i * DOMAIN.size)
        recs.append(Record(name.split(b"\0")[0].decode(), image_module, memory_kib, ssidref, flags, expect,
                           max_evtchn, max_grant_frames, cmdline.split(b"\0")[0].decode(), devices=devices,
                           cpu=cpu, vcpus=vcpus, weight=weight, cap=cap, vcpu_cpus=cpus))
    links = []
    for i in range(header.link_count):
        granter, mapper, gmac, mmac, flags, reserved = LINK.unpack_from(blob, links_at + i * LINK.size)
        if flags or reserved:
            raise ValueError(f"link {i}: unknown flags")
        links.append(LinkRecord(granter, mapper, gmac, mmac))
    return header, recs, links


def guest_window(memory_kib: int) -> tuple[int, int]:
    """Where a domain's image may lie: from GUEST_RAM_VA up to the guard page below the stack."""
    top = GUEST_RAM_VA + memory_kib * 1024
    return GUEST_RAM_VA, top - (GUEST_STACK_PAGES + 1) * GUEST_PAGE_SIZE


def resolve_image(scen: Scenario, dom: Domain | None, name: str, ref: str, build_dir: Path) -> Path:
    """The ELF file an image reference means: a built guest name or a path (scenario-relative)."""
    if Domain.is_path(ref):
        base = scen.path.parent if scen.path else Path.cwd()
        path = (base / ref).resolve()
        if not path.is_file():
            raise UserError(f"{scen.path}: image {ref!r}: {path} does not exist")
        return path
    path = build_dir / "images" / f"{ref}.elf"
    if not path.is_file():
        raise UserError(missing_image(scen, ref, build_dir))
    return path


def missing_image(scen: Scenario, ref: str, build_dir: Path) -> str:
    """Why a guest image is not there: nothing built yet, or no guest of that name (and which there are)."""
    built = sorted(p.stem for p in (build_dir / "images").glob("*.elf"))
    if not built:
        return f"{scen.path}: image {ref!r}: no guest images are built: run ./moat build first"
    import difflib

    close = difflib.get_close_matches(ref, built, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"{scen.path}: image {ref!r}: there is no such guest{hint}; the images built are: {', '.join(built)}. "
            f"A new guest goes in images/tests/{ref}/ (`moat new-test {ref}` makes one), or give an ELF path")


def check_images(scen: Scenario, build_dir: Path) -> dict[str, Path]:
    """Resolve every image and check it like the hypervisor's loader will; name -> ELF path."""
    return {name: image.path for name, image in _checked_images(scen, build_dir).items()}


@dataclass(frozen=True)
class _ImageRead:
    """An image's bytes as read once for a boot, and their SHA-256: what is checked is staged."""
    path: Path
    data: bytes
    sha256: bytes


def _checked_images(scen: Scenario, build_dir: Path) -> dict[str, _ImageRead]:
    """check_images, with each image's bytes as read and checked."""
    found: dict[str, _ImageRead] = {}
    refs = [(d, d.image_name, d.image) for d in scen.domains] + [
        (None, img.name, img.ref) for img in scen.images]
    for dom, name, ref in refs:
        path = resolve_image(scen, dom, name, ref, build_dir)
        image = found.get(name)
        if image is None:
            data = _read_image(path)
            image = found[name] = _ImageRead(path, data, hashlib.sha256(data).digest())
        elif image.path != path:
            raise UserError(f"{scen.path}: two different images are both called {name!r}: "
                            f"{image.path} and {path}")
        # An extra image's memory is chosen at domctl time: check it against the largest domain.
        window = guest_window(dom.memory_kib if dom is not None else GUEST_RAM_MAX_KIB)
        problems = _image_problems(image, window)
        if problems:
            who = f"domain {dom.name!r}" if dom is not None else f"image {name!r}"
            listed = "\n  ".join(problems)
            raise UserError(f"{scen.path}: {who}: {path} would be refused:\n  {listed}")
    if len(found) + 1 > START_MAX_IMAGES:
        raise UserError(f"{scen.path}: {len(found)} distinct images; the manifest and at most "
                        f"{START_MAX_IMAGES - 1} images fit the start-info page's image list")
    return found


# What an image's bytes gave before, in this process: elfcheck's reading of its headers and the
# stripped image. Both depend on the bytes alone, so a second boot of the same image (a test run
# boots a few dozen images some 500 times) skips pyelftools' parse and objcopy's process, about
# 30 ms of CPU per boot (docs/testing.md, eighteenth round); the window's checks, a few
# comparisons, run each time. Keyed by the bytes' SHA-256, never by the path: a rebuilt image is
# a new key.
_images_seen: dict[bytes, elfcheck.Image] = {}
_stripped_seen: dict[bytes, bytes] = {}


def _read_image(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None


def _image_problems(image: _ImageRead, window: tuple[int, int]) -> list[str]:
    """elfcheck's findings for the image in window, its headers read once per content."""
    if image.sha256 not in _images_seen:
        _images_seen[image.sha256] = elfcheck.load(image.path, image.data)
    return elfcheck.check(_images_seen[image.sha256], window)


def boot_image_bytes(path: Path) -> bytes:
    """An image as it is booted, and so measured: the ELF without its debug sections.

    The hypervisor hashes every byte of a module it boots (docs/attestation.md); DWARF, which it
    never reads, is about two thirds of a small guest. The symbol table stays (the hypervisor names
    a faulting guest's function from it), and the unstripped ELF in build/images/ stays what
    `moat coverage` and debuggers read. Deterministic, so `moat attest`'s reference gets the same
    bytes the boot measured.
    """
    data = _read_image(path)
    return _stripped(_ImageRead(path, data, hashlib.sha256(data).digest()))


def _stripped(image: _ImageRead) -> bytes:
    """boot_image_bytes of an image already read, from an earlier strip of the same bytes."""
    if image.sha256 not in _stripped_seen:
        _stripped_seen[image.sha256] = _strip_debug(image.path, image.data)
    return _stripped_seen[image.sha256]


def _strip_debug(path: Path, data: bytes) -> bytes:
    """data (the bytes of the image at path, as read and hashed) without its debug sections."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        raise UserError("objcopy (binutils) is needed to stage boot images: apt-get install binutils")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / f"in-{path.name}", Path(tmp) / path.name
        src.write_bytes(data)  # the bytes the key was made of, even if the file changes meanwhile
        done = subprocess.run([objcopy, "--strip-debug", str(src), str(out)], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise UserError(f"{path}: objcopy --strip-debug failed: {done.stderr.strip()}")
        return out.read_bytes()


def _write_atomically(path: Path, data: bytes) -> None:
    """path holds data afterwards; a reader never sees half of it (written aside, then renamed).

    The staging directory is named by its contents' digest, so most boots find their files there
    already: those are left alone (another process may be booting them)."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    write_atomically(path, data)


def build_boot_modules(scen: Scenario, build_dir: Path, *,
                       refuse_forbidden_links: bool = True) -> list[tuple[Path, str]]:
    """Stage the manifest and images; the (path, args) modules to boot, in module order."""
    if not scen.domains:
        return [(m.path, m.args) for m in scen.modules]
    images = _checked_images(scen, build_dir)
    pol = scenario_policy(scen, build_dir)
    manifest = encode(scen, pol, refuse_forbidden_links=refuse_forbidden_links)
    digest = hashlib.sha256(manifest)
    for name in image_names(scen):
        digest.update(images[name].sha256)
    stem = scen.path.stem if scen.path else "scenario"
    stage = build_dir / "modules" / f"{stem}-{digest.hexdigest()[:12]}"
    stage.mkdir(parents=True, exist_ok=True)
    _write_atomically(stage / MANIFEST_MODULE, manifest)
    # The name is also the module's argument: QEMU's multiboot string is "path args" (first word:
    # the staged file, named after the module), GRUB's is just "args"; both then read as the name.
    staged = [(stage / MANIFEST_MODULE, MANIFEST_MODULE)]
    for name in image_names(scen):
        target = stage / name
        _write_atomically(target, _stripped(images[name]))  # the bytes checked above
        staged.append((target, name))
    # The policy goes last, so image module numbers stay as records() gave them.
    policy = (pol.blob, bootpolicy.POLICY_MODULE_ARGS)
    return [*staged, *((m.path, m.args) for m in scen.modules), policy]
