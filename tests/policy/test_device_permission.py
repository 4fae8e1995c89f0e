# SPDX-License-Identifier: MIT
"""The "may be assigned device X" permission (docs/attestation.md): written in TOML and XML,
compiled to the moat extension's DEVICES section (one device mask per label), decoded alike by
the C parser and the Python decoder, shown by dump and labels, refused for devices that do not exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from moat.devices import DEVICES, DEVICES_ALL
from moat.policy import compile_policy, read_policy
from moat.policy.binary import SEC_DEVICES, decode
from moat.policy.model import PERM_READ_STATE
from moat.policy.validate import check
from moat.pytest_plugin import MoatCli
from tests.policy.conftest import ROOT

TPM, COM2 = 1 << 0, 1 << 1  # DEVICE_BIT(DEVICE_TPM), DEVICE_BIT(DEVICE_COM2) of public/device.h

TOML = """
[policy]
name = "devices"
version = "1.0"
bootstrap = "system"
[types]
ste = ["system", "a"]
chwall = ["system", "a"]
[[vm]]
name = "system"
ste = ["system", "a"]
chwall = ["system"]
permissions = { read_state = true }
[[vm]]
name = "attest"
ste = ["system"]
chwall = ["system"]
permissions = { devices = ["tpm", "com2"] }
[[vm]]
name = "a"
ste = ["a"]
chwall = ["a"]
permissions = { devices = ["com2"] }
"""


def _write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_devices_per_label_and_both_decoders_agree(tmp_path: Path, agree) -> None:
    blob = compile_policy(read_policy(_write(tmp_path, TOML)))
    (r,) = agree([blob])
    rows = {"system": 1, "a": 2, "attest": 3}
    devices, flags = r["ext"]["devices"], r["ext"]["flags"]
    assert devices[rows["attest"]] == TPM | COM2
    assert devices[rows["a"]] == COM2
    assert devices[rows["system"]] == 0
    # Devices are a section of their own: no permission flag stands for them.
    assert flags[rows["attest"]] == flags[rows["a"]] == 0
    assert flags[rows["system"]] == PERM_READ_STATE
    e = decode(blob).ext
    assert e is not None and e.sections == 3  # PERMISSIONS, DEVICES, TARGETS of read_state
    assert int.from_bytes(blob[e.offset + 16 + ((16 + 4 * e.rows + 7) & ~7):][:4], "big") == SEC_DEVICES


def test_no_devices_no_devices_section(tmp_path: Path) -> None:
    text = TOML.replace('permissions = { devices = ["tpm", "com2"] }', "").replace(
        'permissions = { devices = ["com2"] }', "")
    e = decode(compile_policy(read_policy(_write(tmp_path, text)))).ext
    assert e is not None and e.sections == 2 and e.devices == [0] * e.rows


def test_xml_round_trip_gives_the_same_blob_body(tmp_path: Path, moat_cli: MoatCli) -> None:
    src = _write(tmp_path, TOML)
    r = moat_cli("policy", "convert", str(src), "--to", "xml", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    xml = r.stdout
    assert "<moat:Device>tpm</moat:Device>" in xml
    back = compile_policy(read_policy(_write(tmp_path, xml, "p.xml")))
    # The header's 20-byte source hash differs (another file); everything after it is the same.
    assert back[60:] == compile_policy(read_policy(src))[60:]


def test_unknown_device_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, TOML.replace('devices = ["com2"]', 'devices = ["floppy"]'))
    diags = check(read_policy(path))
    errors = [d for d in diags if d.level != "warning"]
    assert len(errors) == 1
    line = TOML.count("\n", 0, TOML.index('devices = ["com2"]')) + 1
    assert "unknown device 'floppy'" in errors[0].message and errors[0].line == line


def test_dump_and_labels_name_the_devices(tmp_path: Path, moat_cli: MoatCli) -> None:
    src = _write(tmp_path, TOML)
    out = tmp_path / "p.bin"
    assert moat_cli("policy", "compile", str(src), "-o", str(out), cwd=ROOT).returncode == 0
    r = moat_cli("policy", "dump", str(out), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "device:tpm; device:com2" in r.stdout
    r = moat_cli("policy", "labels", str(src), "--json", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    labels = json.loads(r.stdout)
    by_name = {lab["name"]: lab for lab in labels} if isinstance(labels, list) else labels
    assert "device:tpm" in json.dumps(by_name)
    assert decode(out.read_bytes()).ext is not None


def test_the_tools_number_the_devices_as_the_hypervisor_does() -> None:
    """moat.devices (scenarios, manifests, policies, the verifier) against hv/include/public/device.h."""
    header = (ROOT / "hv" / "include" / "public" / "device.h").read_text(encoding="utf-8")
    numbers = {m[1].lower(): int(m[2]) for m in re.finditer(r"#define DEVICE_([A-Z0-9]+) (\d+)\n", header)}
    count = numbers.pop("count")
    assert numbers == {name: n for n, name in enumerate(DEVICES)} and count == len(DEVICES)
    assert (1 << count) - 1 == DEVICES_ALL
