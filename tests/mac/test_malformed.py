# SPDX-License-Identifier: MIT
"""The hypervisor's policy parser (hv/xsm/acm_policy.c) against hundreds of corrupted copies of
the live policy, loaded at run time by images/tests/mac_ctl/malformed.c: every 32-bit word
overwritten in turn with four values, and a few cuts. The Python compiler's reader
(tools/moat/policy/binary.py) decodes the same copies: the hypervisor must refuse exactly the
copies it refuses, naming the same offset and field, and every refusal leaves the live policy as
it was (the guest checks that after each one). The same sweep then runs over an STE-only policy
(tests/scenarios/policies/mac-test-ste.toml: STE as the primary policy, no secondary, with the
QUOTAS, SCHED and DEVICES sections the live policy has not), a layout no boot policy has, and
over one without types (mac-test-none.toml: UNDEFINED as both codes), over one of 64 label rows
(mac-test-wide.toml: bitmaps of two words a row), and last a policy of 1025 rows
(mac-test-many.toml) is offered whole and with its SCHED section relabelled QUOTAS (at most 1024
rows), and one of exactly 1024 rows with quotas (mac-test-quota1024.toml) whole: what the parser
accepts of them is refused as not of the running policy's type. Last, one copy with two edits
that no one-word overwrite makes: a target section that names no one, the flags agreeing."""

from __future__ import annotations

import re
import struct

from moat import bootpolicy, paths
from moat.policy import binary, read_policy
from moat.policy.binary import compile_policy
from moat.policy.model import numbering
from tests.domains.conftest import SCENARIOS

from . import maclog

EBUSY, EINVAL = -16, -22
REFUSED = re.compile(r"^mac: setpolicy refused: malformed at offset (\d+) \(([^)]*)\): (.*)$")
NOT_LOADABLE = "mac: setpolicy refused: not a loadable policy of the running policy's type"
GUEST = re.compile(r"^\(d\d+\) ([msuwbq][ftc]) (\d+)(?: (0x[0-9a-f]+|0))? rc=(-?\d+)$")


def checksum(data: bytes) -> int:
    s = 0
    for b in data:
        s = (s * 31 + b) & 0xFFFFFFFF
    return s


def test_the_parser_refuses_what_the_reference_reader_refuses(run_scenario):
    blob = bootpolicy.compile_for_boot(SCENARIOS / "policies/mac-test.toml",
                                       paths.build_dir() / "policies").blob.read_bytes()
    ste_policy = read_policy(SCENARIOS / "policies/mac-test-ste.toml")
    ste_blob = compile_policy(ste_policy, numbering(ste_policy))
    assert binary.decode(ste_blob).primary == binary.CODE_STE
    none_policy = read_policy(SCENARIOS / "policies/mac-test-none.toml")
    none_blob = compile_policy(none_policy, numbering(none_policy))
    assert binary.decode(none_blob).primary == binary.CODE_UNDEFINED
    wide_blob, many_blob, quota1024_blob = (compile_policy(p, numbering(p)) for p in (
        read_policy(SCENARIOS / f"policies/mac-test-{n}.toml") for n in ("wide", "many", "quota1024")))
    assert binary.decode(wide_blob).primary == binary.CODE_STE
    result = run_scenario("mac_malformed", timeout=240)
    log = maclog.controller(result, [])
    ctl = log.named("ctl")
    # The other domain asked for a reboot: the hypervisor counts that as an ending as expected.
    assert log.named("rebooter").outcome == "reboot"
    assert log.not_expected == 0
    assert f"mf blob size={len(blob)} sum={checksum(blob):#x}" in ctl.lines

    copies = refused = loaded = 0
    ste_copies = ste_refused = ste_wrong_type = 0
    none_copies = none_refused = none_wrong_type = 0
    wide_copies = wide_refused = wide_wrong_type = 0
    many_refusals: list[tuple[str, str]] = []
    chwall_without_types = quota1024_wrong_type = 0
    last: list[str] = []  # the hypervisor's lines since the guest's previous line
    fields_seen = set()
    for line in result.console.splitlines():
        m = GUEST.match(line)
        if not m:
            if not line.startswith("("):
                last.append(line)
            continue
        kind, num, value, rc = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        original = {"m": blob, "s": ste_blob, "u": none_blob, "w": wide_blob, "b": many_blob,
                    "q": quota1024_blob}[kind[0]]
        if kind[1] == "f":
            data = bytearray(original)
            data[num:num + 4] = struct.pack(">I", int(value or "0", 16))
        else:
            data = bytearray(original[:num])
            if kind[1] == "c":  # the cut with the header's len saying its size
                struct.pack_into(">I", data, 8, num)
        where = f"{line!r} after {last!r}"
        try:
            binary.decode(bytes(data))
        except binary.BlobError as e:
            hv = [r for x in last if (r := REFUSED.match(x))]
            assert rc == EINVAL and len(hv) == 1, where
            # The hypervisor names a matrix without the cell's indices; the offset pins the cell.
            assert (int(hv[0].group(1)), hv[0].group(2)) == (e.offset, e.field.split("[")[0]), \
                f"{where}: Python says {e}"
            if e.field.startswith("ext.section.len"):
                # Two refusals share this offset and field (too short for the header, not the
                # size its rows need): the reason tells them apart. Python adds the value.
                assert e.message.endswith(hv[0].group(3)), f"{where}: Python says {e}"
            fields_seen.add(e.field)
            refused += kind[0] == "m"
            ste_refused += kind[0] == "s"
            none_refused += kind[0] == "u"
            wide_refused += kind[0] == "w"
            chwall_without_types += hv[0].group(3) == "CHWALL without CHWALL types"
            if kind[0] == "b":
                many_refusals.append((hv[0].group(3), e.message))
        else:
            if kind[0] in "suwbq":
                # Well formed but STE primary (an altered copy has no Chinese Wall primary either):
                # the hypervisor parses it, then refuses it as not of the running policy's type.
                assert rc == EINVAL and NOT_LOADABLE in last, where
                ste_wrong_type += kind[0] == "s"
                none_wrong_type += kind[0] == "u"
                wide_wrong_type += kind[0] == "w"
                quota1024_wrong_type += kind[0] == "q"
            else:
                assert rc in (0, EBUSY) or (rc == EINVAL and NOT_LOADABLE in last), where
                loaded += rc == 0
        copies += kind[0] == "m"
        ste_copies += kind[0] == "s"
        none_copies += kind[0] == "u"
        wide_copies += kind[0] == "w"
        last = []
    assert copies > 700 and refused > 550, (copies, refused)
    assert len(fields_seen) > 20, sorted(fields_seen)
    assert (f"malformed: {copies} copies offered, {loaded} loaded and put back, the original policy live"
            in ctl.lines)
    assert ste_copies > 150 and ste_refused > 100 and ste_wrong_type > 5, (ste_copies, ste_refused, ste_wrong_type)
    assert (f"malformed ste: {ste_copies} copies offered, 0 loaded and put back, the original policy live"
            in ctl.lines)
    assert none_copies > 100 and none_refused > 50 and none_wrong_type > 0, (none_copies, none_refused, none_wrong_type)
    assert (f"malformed none: {none_copies} copies offered, 0 loaded and put back, the original policy live"
            in ctl.lines)
    assert wide_copies > 900 and wide_refused > 500 and wide_wrong_type > 5, \
        (wide_copies, wide_refused, wide_wrong_type)
    assert (f"malformed wide: {wide_copies} copies offered, 0 loaded and put back, the original policy live"
            in ctl.lines)
    # The STE-only policy's code lowered to Chinese Wall's: a Chinese Wall policy without its types.
    assert chwall_without_types > 0
    # 1025 rows: whole, parsed and refused as not of the running type (above); with quotas, refused
    # for the rows, before the fields and the length (a SCHED table's) are looked at.
    assert many_refusals == [("too many labels for quotas", "is 1025: quotas work for at most 1024 labels")], \
        many_refusals
    # 1024 rows with quotas: at the bound, parsed whole (refused only as not of the running type).
    assert quota1024_wrong_type == 1
    assert "malformed many: the original policy live" in ctl.lines

    # Two edits together: the first target section's permission taken from every row and its
    # bitmaps emptied. The reference reader refuses the same copy at the same place.
    nobody = [m for line in ctl.lines
              if (m := re.match(r"^nobody perms=(\d+) targets=(\d+) bit=(\d+) rows=(\d+) rc=(-?\d+)$", line))]
    assert len(nobody) == 1, ctl.lines[-5:]
    perms, targets, bit, rows, rc = (int(x) for x in nobody[0].groups())
    assert rc == EINVAL
    data = bytearray(blob)
    for row in range(rows):
        at = perms + 16 + 4 * row
        struct.pack_into(">I", data, at, struct.unpack_from(">I", data, at)[0] & ~(1 << bit))
    section_len = struct.unpack_from(">I", data, targets + 4)[0]
    data[targets + 16:targets + section_len] = bytes(section_len - 16)
    try:
        binary.decode(bytes(data))
    except binary.BlobError as e:
        assert (e.offset, e.field.split("[")[0]) == (targets, "ext.section.type"), e
    else:
        raise AssertionError("the reference reader accepted a target section that names no one")
    assert (f"mac: setpolicy refused: malformed at offset {targets} (ext.section.type): "
            "a target section that names no one") in result.lines
