# SPDX-License-Identifier: MIT
"""Device assignment under MAC (hv/core/device.c): only the holder reaches a device; anyone else
faults, audited; the label must permit an assignment and the device must be there. And without
a TPM the hypervisor says so once and boots unmeasured."""

from __future__ import annotations

import re

import pytest

from moat import scenario
from moat.manifest import decode, encode
from moat.pytest_plugin import assert_status
from tests.mac import maclog

from .helpers import SCENARIOS

pytestmark = pytest.mark.boot


def test_devices_without_permission_or_presence(boot) -> None:
    r = boot(scenario_file=SCENARIOS / "devices.toml")
    assert_status(r, "SUCCESS")
    lines = r.lines
    assert "measure: no TPM: boot not measured" in lines
    # Touching the TPM's page: a page fault at GUEST_TPM_VA, audited first.
    i = lines.index("MAC deny hook=device subj=0:touch-tpm op=access-tpm ssid=0x00030003/0x00000000")
    assert lines[i + 1].startswith("domain 0 'touch-tpm' crashed: vector=14 #PF ") and "cr2=0x200f00" in lines[i + 1]
    # Touching COM2's ports: a general protection fault (the TSS I/O bitmap denies them).
    i = lines.index("MAC deny hook=device subj=1:touch-com2 op=access-com2 ssid=0x00020002/0x00000000")
    assert lines[i + 1].startswith("domain 1 'touch-com2' crashed: vector=13 #GP ")
    assert not any("FAILED" in line for line in lines)
    # Assignments: the label must permit the device, and the device must exist.
    assert "MAC deny hook=device subj=boot obj=new:no-permission op=assign-com2 ssid=0x00000000/0x00030003" in lines
    assert "domain 'no-permission' not created: error -1" in lines
    assert any(line.endswith("'no-tpm': device tpm is not present") for line in lines)
    assert "domain 'no-tpm' not created: error -19" in lines
    assert "moat: all domains stopped: 4 as expected, 0 not" in lines
    # Three denials, all in the documented audit format.
    assert sorted((d.hook, d.subj, d.op) for d in maclog.denials(r.console)) == [
        ("device", "0:touch-tpm", "access-tpm"), ("device", "1:touch-com2", "access-com2"),
        ("device", "boot", "assign-com2")]


def test_devices_in_the_manifest(tmp_path) -> None:
    """The scenario's devices become the manifest's bitmask (the old reserved word)."""
    scen = scenario.load(SCENARIOS / "agent.toml")
    _, recs = decode(encode(scen))
    assert [r.devices for r in recs] == [0b11, 0]


@pytest.mark.parametrize(("devices", "message"), [
    ('["floppy"]', "'floppy' is not a device (known: tpm, com2)"),
    ('["tpm", "tpm"]', "lists a device twice"),
])
def test_scenario_device_errors(tmp_path, devices: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[[domain]]\nimage = "hello"\ndevices = {devices}\n')
    with pytest.raises(scenario.ScenarioError, match=re.escape(message)):
        scenario.load(path)


def test_a_device_is_held_by_one_domain(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[[domain]]\nname = "a"\nimage = "hello"\ndevices = ["com2"]\n'
                    '[[domain]]\nname = "b"\nimage = "hello"\ndevices = ["com2"]\n')
    with pytest.raises(scenario.ScenarioError, match="device 'com2' is assigned to both 'a' and 'b'"):
        scenario.load(path)


def test_the_hypervisor_refuses_a_device_already_held(boot, tmp_path) -> None:
    """The scenario tools refuse a device given twice (above); a manifest that does it anyway
    (written by hand here) gets the device for its first holder only: the second domain is not
    built (-EBUSY), saying who holds it, and the first runs."""
    import struct
    import zlib

    from moat import manifest, paths

    path = tmp_path / "s.toml"
    path.write_text(f'policy = "{(SCENARIOS.parent / "policies" / "attest.toml").as_posix()}"\n'
                    '[[domain]]\nname = "a"\nimage = "hello"\nmemory = "256K"\nlabel = "attest"\n'
                    'devices = ["com2"]\n'
                    '[[domain]]\nname = "b"\nimage = "hello"\nmemory = "256K"\nlabel = "attest"\n'
                    'expect = "any"\n')
    mods = manifest.build_boot_modules(scenario.load(path), paths.build_dir())
    blob = bytearray(mods[0][0].read_bytes())
    devices_b = manifest.HEADER.size + manifest.DOMAIN.size + 60  # record 1's devices
    struct.pack_into("<I", blob, devices_b, 1 << 1)  # DEVICE_COM2
    struct.pack_into("<I", blob, 4, zlib.crc32(blob[8:]))
    bad = tmp_path / "manifest"
    bad.write_bytes(bytes(blob))
    r = boot(modules=[(bad, "manifest"), *mods[1:]], extra_args=["-serial", "null"])  # a COM2
    assert_status(r, "SUCCESS")
    assert "domain 1 'b': device com2 is held by domain 0" in r.lines, r.lines[-12:]
    assert "domain 'b' not created: error -16" in r.lines
    assert "(d0) hello from domain 0 'a', 64 pages, cmdline ''" in r.lines
    assert "moat: all domains stopped: 2 as expected, 0 not" in r.lines


def test_a_device_held_by_a_domain_with_a_keyed_id_is_not_given_twice(boot) -> None:
    """Under mitigate=domid a domain created at run time has an id of 64 or more, not its slot.
    The check that nobody else holds a device must find such a holder by its id: a second domain
    asking for COM2 while the first lives is refused (-EBUSY), and after the first is destroyed
    COM2 may be given again."""
    r = boot(scenario_file=SCENARIOS / "devices_keyed_ids.toml", extra_args=["-serial", "null"])  # a COM2
    assert_status(r, "SUCCESS")
    lines = [line.removeprefix("(d0) ") for line in r.lines]
    assert not [line for line in lines if "FAILED" in line], r.lines[-20:]
    first = next(line for line in lines if line.startswith("dev_hold: holder-1 asked for com2: "))
    m = re.fullmatch(r"dev_hold: holder-1 asked for com2: rc 0, d(\d+)", first)
    assert m and int(m[1]) >= 64, first
    assert "dev_hold: holder-2 asked for com2: rc -16, d0" in lines, r.lines[-20:]
    assert any(line.endswith(f"'holder-2': device com2 is held by domain {m[1]}") for line in r.lines), r.lines[-20:]
    assert any(re.fullmatch(r"dev_hold: holder-3 asked for com2: rc 0, d\d+", line) for line in lines), r.lines[-20:]
    assert "dev_hold: done" in lines


def test_yields_open_and_close_the_holders_ports(boot) -> None:
    """COM2's holder and another domain of a label that may hold it take turns by yielding (the
    scheduler's plain switch, which must leave a switch to or from a domain with ports to the
    general path). The holder reads COM2 after every yield: its ports are open whenever it runs.
    The other touches COM2 right after the holder yielded to it: #GP, audited. Had the switch
    skipped the I/O bitmap, the holder would fault or the other would read the holder's device."""
    holder_takes_turns_with_a_toucher(boot, "devices_yield.toml", "a yield")


def test_blocks_close_the_holders_ports(boot) -> None:
    """The same with the holder sleeping (SCHEDOP_block) between its reads: each block switches it
    out to the other domain, which touches COM2 while the holder sleeps and must take a #GP,
    audited. The scheduler's plain switch switches blocks out too; the holder's open ports must
    send it to the general path (its global flag follows the ports: were it left as the boot set
    it, the other would read COM2 here)."""
    holder_takes_turns_with_a_toucher(boot, "devices_block.toml", "a sleep")


def holder_takes_turns_with_a_toucher(boot, scenario: str, between: str) -> None:
    """The holder read COM2 20 times with `between` each, and the other domain's touch was a #GP,
    audited, with both domains stopping as expected."""
    r = boot(scenario_file=SCENARIOS / scenario, extra_args=["-serial", "null"])  # a COM2
    assert_status(r, "SUCCESS")
    lines = r.lines
    assert not any("FAILED" in line for line in lines), lines[-20:]
    assert f"(d0) holder: read COM2's status 20 times, {between} between each" in lines, lines[-20:]
    i = lines.index("MAC deny hook=device subj=1:touch-com2 op=access-com2 ssid=0x00020002/0x00000000")
    assert lines[i + 1].startswith("domain 1 'touch-com2' crashed: vector=13 #GP ")
    assert "moat: all domains stopped: 2 as expected, 0 not" in lines
