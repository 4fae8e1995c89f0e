# SPDX-License-Identifier: MIT
"""The hypervisor's accessors of a parsed policy (hv/xsm/acm_policy.c: acm_chwall_row, acm_ext_may,
acm_ext_may_all, ...) asked every row, type and permission and one past each, compared with the
answers the Python decoder's view implies. These are what every MAC decision reads; the boot tests
ask them only for the rows their guests hold, and never one past the policy's last."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import pytest

from moat.policy import compile_policy, read_policy, read_policy_bytes
from moat.policy.binary import decode
from tests.policy.conftest import CORPUS, EXAMPLES, ROOT

UNLIMITED = 0xFFFFFFFF
QUOTA_FIELDS, SCHED_FIELDS, PERM_BITS = 5, 2, 7
POLICY_LOAD, TARGETED = 1 << 3, 0x7F & ~(1 << 3)
# the bit of each targeted permission, as acm_check prints them (bit 3, load_policy, names no one)
PERM_NAMES = ["create", "destroy", "pause", None, "read_state", "foreign_evtchn", "foreign_gnttab"]
QUERY_PERMS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 3, 0x7F, 0x88]  # as query_perms[] in acm_check.c
CHWALL_HEADER, STE_HEADER = 36, 20


def many_labels(n: int) -> bytes:
    """A policy of n VM labels besides `system` (rows: __UNLABELED__ 0, system 1, v1.. 2..n+1), whose
    permissions cover every row (destroy), all but the last (create), all but row 0 (pause), one
    row (read_state); v1 may destroy every row too, and pause its own."""
    vms = [f"v{i}" for i in range(1, n + 1)]
    every = json.dumps(["system", *vms])
    text = f"""\
[policy]
name = "rows{n}"
version = "1.0"
bootstrap = "system"

[types]
ste = ["sys"]
chwall = ["any"]

[[vm]]
name = "system"
ste = ["sys"]
chwall = ["any"]
permissions = {{ destroy = true, create = {json.dumps(["system", *vms[:-1]])}, pause = {every}, \
read_state = ["{vms[-1]}"], load_policy = true, foreign_evtchn = true }}
"""
    for v in vms:
        perms = f'permissions = {{ destroy = true, pause = ["{v}"] }}' if v == "v1" else ""
        text += f'\n[[vm]]\nname = "{v}"\nste = ["sys"]\nchwall = ["any"]\n{perms}\n'
    return compile_policy(read_policy_bytes(text.encode(), f"rows{n}.toml"))


def with_row0(blob: bytes) -> bytes:
    """The blob with row 0 (__UNLABELED__, which the compilers give nothing) holding something in
    every section: load_policy, device 0, limits, scheduling defaults, and every targeted
    permission over every row. The accessors bound a row under speculation by masking it to 0, so
    an accessor that lost its bound check would answer row 0's value for the row past the end;
    only a row 0 that holds something tells that from the 0 (or "unlimited") it must answer."""
    e = decode(blob).ext
    assert e is not None
    out, words = bytearray(blob), (e.rows + 31) // 32
    flags_at, o, flags0 = 0, e.offset + 16, 1 << 3
    for _ in range(e.sections):
        kind, slen = struct.unpack_from("!II", out, o)
        cells = o + 16
        if kind == 1:
            flags_at = cells
        elif kind == 2:
            struct.pack_into("!I", out, cells, 1)
        elif kind == 3:
            struct.pack_into("!5I", out, cells, 5, 6, 7, 8, 9)
        elif kind == 4:
            struct.pack_into("!2I", out, cells, 7, 9)
        else:  # a targeted permission's bitmap: every row
            for w in range(words):
                last = w == words - 1 and e.rows % 32
                struct.pack_into("!I", out, cells + 4 * w, (1 << e.rows % 32) - 1 if last else 0xFFFFFFFF)
            flags0 |= 1 << (kind - 16)
        o += slen
    struct.pack_into("!I", out, flags_at, flags0)
    return bytes(out)


def expected(blob: bytes) -> dict[str, Any]:
    """What acm_check --query prints for a valid blob, from the Python decoder alone."""
    j = decode(blob).to_json()
    cw, st, ext = j["chwall"], j["ste"], j["ext"]

    def offsets(sec: dict[str, Any], header: int) -> list[int]:
        return [sec["offset"] + header + 2 * r * sec["types"] for r in range(sec["ssidrefs"])] + [-1]

    def cells(m: list[str], types: int) -> list[str]:
        return [row + "0" for row in m] + ["0" * (types + 1), "00"]

    rows = ext["rows"] if ext else 0
    flags = (ext["flags"] if ext else []) + [0]
    targets = []
    for b in range(PERM_BITS + 1):
        name = PERM_NAMES[b] if b < PERM_BITS else None
        targets.append((ext["targets"][name] if ext and name else [[]] * rows) + [[]])

    def may(perm: int) -> list[list[int]]:
        if not perm & TARGETED:
            return [list(range(rows + 1)) if perm == POLICY_LOAD and flags[r] & perm else [] for r in range(rows + 1)]
        return targets[perm.bit_length() - 1 if perm & (perm - 1) == 0 else PERM_BITS]

    def may_all(perm: int) -> list[int]:
        if not perm & TARGETED:
            return [r for r in range(rows + 1) if perm == POLICY_LOAD and flags[r] & perm]
        t = may(perm)
        return [r for r in range(rows) if t[r] == list(range(rows))]

    return {
        "looks_like": [1, 1, 0],
        "view": {
            "name_len": len(j["name"]),
            "chwall_row": offsets(cw, CHWALL_HEADER),
            "ste_row": offsets(st, STE_HEADER),
            "chwall_has": cells(cw["ssid"], cw["types"]),
            "set_has": cells(cw["conflict"], cw["types"]),
            "ste_has": cells(st["ssid"], st["types"]),
            "flags": flags,
            "devices": (ext["devices"] if ext else []) + [0],
            "quotas": [q + [UNLIMITED] for q in (ext["quotas"] if ext else [])] + [[UNLIMITED] * (QUOTA_FIELDS + 1)],
            "sched": [s + [0] for s in (ext["sched"] if ext else [])] + [[0] * (SCHED_FIELDS + 1)],
            "target": targets,
            "may_create": targets[0],
            "may": [may(p) for p in QUERY_PERMS],
            "may_all": [may_all(p) for p in QUERY_PERMS],
            "may_any": [[r for r in range(rows + 1) if p and flags[r] & p == p] for p in QUERY_PERMS],
        },
    }


@pytest.fixture(scope="module")
def query(acm_frames: Callable[..., list[dict[str, Any]]]) -> Callable[[list[bytes]], list[dict[str, Any]]]:
    def run(blobs: list[bytes]) -> list[dict[str, Any]]:
        return acm_frames(blobs, "--query")

    return run


POLICIES = {
    "no extension": lambda: compile_policy(read_policy(CORPUS / "derived" / "xmtest09_1_good.xml")),
    "STE only": lambda: compile_policy(read_policy(CORPUS / "synthetic" / "s03_ste_only.xml")),
    "demo": lambda: compile_policy(read_policy(EXAMPLES / "demo.toml")),
    "quotas": lambda: compile_policy(read_policy(ROOT / "tests" / "scenarios" / "policies" / "quota-test.toml")),
    "sched": lambda: compile_policy(read_policy(ROOT / "tests" / "scenarios" / "policies" / "sched-test.toml")),
    # rows % 32: 5 (one word), 0 (one full word), 1 (a second word of one row), 0 (two full words)
    "5 rows": lambda: many_labels(3),
    "32 rows": lambda: many_labels(30),
    "33 rows": lambda: many_labels(31),
    "64 rows": lambda: many_labels(62),
    "demo, row 0 holding all": lambda: with_row0(compile_policy(read_policy(EXAMPLES / "demo.toml"))),
    "quotas, row 0 holding all": lambda: with_row0(
        compile_policy(read_policy(ROOT / "tests" / "scenarios" / "policies" / "quota-test.toml"))),
    "sched, row 0 holding all": lambda: with_row0(
        compile_policy(read_policy(ROOT / "tests" / "scenarios" / "policies" / "sched-test.toml"))),
    "33 rows, row 0 holding all": lambda: with_row0(many_labels(31)),
    "64 rows, row 0 holding all": lambda: with_row0(many_labels(62)),
}


@pytest.mark.parametrize("name", list(POLICIES))
def test_every_accessor_answers_as_the_decoded_view(name: str, query) -> None:
    blob = POLICIES[name]()
    (got,) = query([blob])
    want = expected(blob)
    if "row 0" in name:  # the change took: row 0 holds load_policy and more
        assert want["view"]["flags"][0] & (1 << 3) and want["view"]["may_all"][QUERY_PERMS.index(8)][0] == 0
    for key in want["view"]:
        assert got["view"][key] == want["view"][key], key
    assert got == want


def test_the_generated_policies_hold_what_the_bounds_need() -> None:
    """may_all's last-word mask is judged only if some row holds a permission over every row and
    another over all rows but the last, in policies whose rows fill whole words and do not."""
    for n, rows in ((3, 5), (30, 32), (31, 33), (62, 64)):
        want = expected(many_labels(n))["view"]
        assert len(want["flags"]) == rows + 1
        assert want["may_all"][QUERY_PERMS.index(2)] == [1, 2]  # destroy: system and v1
        assert want["may_all"][QUERY_PERMS.index(1)] == []  # create: all but the last row
        assert want["may_all"][QUERY_PERMS.index(4)] == []  # pause: all but row 0
        assert want["may_all"][QUERY_PERMS.index(8)] == [1]  # load_policy names no one


def test_what_the_boot_takes_for_a_policy(query) -> None:
    """acm_policy_looks_like: the magic in the first four bytes, whatever follows."""
    good = POLICIES["no extension"]()
    magic = good[:4]
    assert [r["looks_like"] for r in query([magic, good[:3], b"", b"\0" + magic, magic[:3] + b"\0"])] == [
        [1, 1, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
    ]
    # only the magic's own last byte, and each of its bytes is read
    spoilt = [magic[:i] + bytes([x]) + magic[i + 1 :] for i in range(4) for x in range(256) if x != magic[i]]
    assert all(r["looks_like"] == [0, 0, 0] for r in query(spoilt))
