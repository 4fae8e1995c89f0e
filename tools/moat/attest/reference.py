# SPDX-License-Identifier: MIT
"""`moat attest reference`: what a scenario's boot must measure, computed without booting.

The same code stages what `moat run` boots (moat.manifest, moat.bootpolicy), so the reference
holds the hashes of the very bytes the hypervisor will load: its image, the manifest, the
compiled policy and every image; and, from those, the exact events the hypervisor logs at boot
and the values PCRs 20 and 21 must reach. It also keeps what a customer needs to read a
verdict: each domain's label name, and the policy's labels, types and conflict sets.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moat import bootpolicy, manifest, paths, scenario
from moat.attest import AttestError, eventlog
from moat.errors import UserError
from moat.policy import read_policy
from moat.policy.analysis import from_policy
from moat.policy.model import parse_version

FORMAT = "moat-attest-reference 1"
HV_VERSION = "moat 0.1.0"  # MOAT_VERSION in hv/internal/moat/config.h, as the hypervisor names itself
MANIFEST_FLAGS_PRIVILEGED = 1


def describe_policy(source: Path, blob: bytes) -> dict[str, Any]:
    """A policy's identity and, by label, what the verifier needs to explain it."""
    pol = read_policy(source)
    view = from_policy(pol)
    ver = parse_version(pol.version) or (0, 0)
    labels = {}
    for name, lab in view.labels.items():
        if lab.kind != "vm" or lab.ste_row == 0:
            continue
        labels[name] = {"ssidref": f"{lab.ssidref:#010x}", "ste": sorted(lab.ste), "chwall": sorted(lab.chwall),
                        "permissions": sorted(lab.perms)}
    return {
        "name": pol.name,
        "version": f"{ver[0]}.{ver[1]}",
        "source": str(source),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
        "bootstrap": pol.bootstrap,
        "labels": labels,
        "conflict_sets": {name: sorted(types) for name, types in view.conflict_sets},
    }


def _boot_cmdline(hv_cmdline: str) -> str:
    """What the hypervisor measures: the command line after the loader's first word (the path)."""
    return hv_cmdline.lstrip(" ")[:511]


@dataclass
class Reference:
    data: dict[str, Any]

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")

    @staticmethod
    def load(path: Path) -> Reference:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: no such reference file (make one with `moat attest reference`)") from None
        except (OSError, ValueError) as e:
            raise UserError(f"{path}: not a readable reference: {e}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{path}: not a moat attestation reference ({FORMAT})")
        return Reference(data)


def compute(scen_path: Path, extra_policies: list[Path] | None = None) -> Reference:
    """The reference of a scenario (with [[domain]] tables), from the build outputs."""
    scen = scenario.load(scen_path)
    if not scen.domains:
        raise UserError(f"{scen_path}: attestation needs a scenario with [[domain]] tables")
    build = paths.build_dir()
    hv_bin = paths.require_built(paths.hv_image(scen.hypervisor.build))
    images = manifest.check_images(scen, build)
    pol = manifest.scenario_policy(scen, build)
    blob = pol.blob.read_bytes()
    man = manifest.encode(scen, pol)
    recs = manifest.records(scen, pol)
    source = scen.policy or Path(bootpolicy.DEFAULT_POLICY)
    policy = describe_policy(source, blob)
    names_by_ssid = {int(v["ssidref"], 16): k for k, v in policy["labels"].items()}

    hv = hv_bin.read_bytes()
    cmdline = _boot_cmdline(scen.hypervisor.cmdline)
    ver = [int(x) for x in policy["version"].split(".")]
    events: list[tuple[int, int, bytes]] = [
        (eventlog.PCR_HYPERVISOR, eventlog.EV_EVENT_TAG, eventlog.image_event(eventlog.TAG_HYPERVISOR, hv, HV_VERSION)),
        (eventlog.PCR_HYPERVISOR, eventlog.EV_EVENT_TAG, eventlog.tagged(eventlog.TAG_CMDLINE, cmdline.encode())),
        (eventlog.PCR_BOOT, eventlog.EV_EVENT_TAG, eventlog.policy_event(blob, policy["name"], ver[0], ver[1], 0)),
        (eventlog.PCR_BOOT, eventlog.EV_EVENT_TAG, eventlog.image_event(eventlog.TAG_MANIFEST, man, "manifest")),
    ]
    domains = []
    for domid, (dom, rec) in enumerate(zip(scen.domains, recs, strict=True)):
        image = manifest.boot_image_bytes(images[dom.image_name])  # as staged, so as measured
        events.append((eventlog.PCR_BOOT, eventlog.EV_EVENT_TAG, eventlog.domain_event(
            image=image, domid=domid, ssidref=rec.ssidref, memory_kib=rec.memory_kib, devices=rec.devices,
            flags=rec.flags, creator=None, name=rec.name, cmdline=rec.cmdline)))
        domains.append({
            "name": rec.name, "domid": domid, "label": names_by_ssid.get(rec.ssidref, f"{rec.ssidref:#010x}"),
            "ssidref": f"{rec.ssidref:#010x}", "memory_kib": rec.memory_kib,
            "devices": eventlog.device_names(rec.devices), "flags": rec.flags, "cmdline": rec.cmdline,
            "image": dom.image_name, "image_sha256": hashlib.sha256(image).hexdigest(), "image_size": len(image),
        })
    events += [(eventlog.PCR_HYPERVISOR, eventlog.EV_SEPARATOR, eventlog.SEPARATOR),
               (eventlog.PCR_BOOT, eventlog.EV_SEPARATOR, eventlog.SEPARATOR)]
    pcrs = {p: eventlog.initial_value(p) for p in (eventlog.PCR_HYPERVISOR, eventlog.PCR_BOOT)}
    for pcr, _, data in events:
        pcrs[pcr] = eventlog.extend(pcrs[pcr], hashlib.sha256(data).digest())

    known = [policy]
    for extra in extra_policies or []:
        bp = bootpolicy.compile_for_boot(extra.resolve(), build / "policies")
        known.append(describe_policy(extra.resolve(), bp.blob.read_bytes()))
    return Reference({
        "format": FORMAT,
        "scenario": str(scen_path),
        "hypervisor": {"name": HV_VERSION, "image": str(paths.display(hv_bin)),
                       "sha256": hashlib.sha256(hv).hexdigest(), "size": len(hv), "cmdline": cmdline},
        "manifest": {"sha256": hashlib.sha256(man).hexdigest(), "size": len(man)},
        "policy": policy,
        "known_policies": known,
        "domains": domains,
        "images": {name: hashlib.sha256(manifest.boot_image_bytes(p)).hexdigest() for name, p in images.items()},
        "events": [{"pcr": pcr, "type": typ, "data": data.hex()} for pcr, typ, data in events],
        "pcrs": {str(p): v.hex() for p, v in pcrs.items()},
    })


def check_shape(ref: Reference) -> None:
    """The fields the verifier reads, present and of the right kind (a hand-edited file may lie)."""
    d = ref.data
    try:
        for e in d["events"]:
            int(e["pcr"]), int(e["type"]), bytes.fromhex(e["data"])
        for key in ("hypervisor", "manifest", "policy"):
            bytes.fromhex(d[key]["sha256"])
        for dom in d["domains"]:
            dom["name"], dom["label"], bytes.fromhex(dom["image_sha256"])
        for p in d["known_policies"]:
            p["name"], bytes.fromhex(p["sha256"])
    except (KeyError, TypeError, ValueError) as e:
        raise AttestError(f"the reference file is malformed ({e!r})") from None
