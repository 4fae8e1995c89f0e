# SPDX-License-Identifier: MIT
"""Privileged operations are permissions of labels (issue 7 part 5, shype-acm.md item 22): every
one tried by a label without the permission gets -EPERM and one audit line; domain 0 has the
unprivileged label (and the privileged flag) and domain 1 the system label, which succeeds."""

from __future__ import annotations

from moat.pytest_plugin import assert_xtf
from tests.domains import domlog

from . import maclog

# mac_peer's name of the operation -> the audit line's op= and whether it names the object.
NOPERM = {
    "create": ("create", False),
    # domctl looks the target up first (permissions name target labels); a free id would answer
    # -EPERM all the same (tests/attacks, probe)
    "destroy": ("destroy", True),
    "pause": ("pause", True),
    "unpause": ("unpause", True),
    "getinfo": ("read-state", True),
    "memory_op": ("read-state", True),
    "bind-virq-dom-exc": ("watch", False),
    "evtchn-status": ("foreign-evtchn-status", True),
    "evtchn-alloc-foreign": ("foreign-evtchn", True),
    "evtchn-reset": ("foreign-evtchn", True),
    "setpolicy": ("setpolicy", False),
    "relabel": ("relabel", False),
    "getpolicy": ("getpolicy", False),
    "getssid-domain": ("read-state", True),
    "getssid-ssidref": ("getssid", False),
    "getdecision": ("getdecision", False),
    "dumpstats": ("dumpstats", False),
}
READER_DENIED = ["create", "destroy", "pause", "unpause", "evtchn-reset", "setpolicy", "relabel"]
RED, READER, LIMITED = 0x00090009, 0x00080008, 0x00070007


def results(dom: domlog.Domain) -> dict[str, int]:
    out = {}
    for line in dom.lines:
        if line.startswith("perm: ") and " rc=" in line:
            op, rc = line[len("perm: "):].split(" rc=")
            out[op] = int(rc)
    return out


def test_permissions_belong_to_labels(run_scenario):
    result = run_scenario("mac_perm", timeout=120)
    log = domlog.parse(result.console)
    for name in ("noperm", "ctl", "reader", "limited"):
        dom = log.named(name)
        assert not maclog.guest_fails(dom.lines), f"{name}:\n" + "\n".join(maclog.guest_fails(dom.lines))
        assert dom.result == "SUCCESS", name
    assert_xtf(result)
    noperm = log.named("noperm")
    assert noperm.domid == 0
    assert log.named("ctl").domid == 1
    assert "perm: the system label (domain 1) may do what domain 0 may not" in log.named("ctl").lines

    got = results(noperm)
    for op in NOPERM:
        assert got.get(op) == -1, f"{op}: rc {got.get(op)}, expected -EPERM (-1)"
    assert got["getssid-self"] == 0 and got["setpolicy-bad-version"] == -22
    deny = [d for d in maclog.denials(result.console) if d.subj == "0:noperm"]
    want = [maclog.Deny("privileged", "0:noperm", "1:ctl" if obj else None, audit, RED, 0x00010001 if obj else 0)
            for audit, obj in NOPERM.values()]
    assert deny == want

    reader = log.named("reader")
    got = results(reader)
    assert all(got[op] == -1 for op in READER_DENIED), got
    assert all(rc == 0 for op, rc in got.items() if op not in READER_DENIED and op != "setpolicy-bad-version")
    rdeny = [d.op for d in maclog.denials(result.console) if d.subj == f"{reader.domid}:reader"]
    assert rdeny == ["create", "destroy", "pause", "unpause", "foreign-evtchn", "setpolicy", "relabel"]

    limited = log.named("limited")
    got = results(limited)
    assert got == {"create-red": 0, "create-blue": -1, "create-system": -1, "create-limited": -1}
    ldeny = [(d.op, d.obj_ssid) for d in maclog.denials(result.console) if d.subj == f"{limited.domid}:limited"]
    assert ldeny == [("create-label", 0x00040004), ("create-label", 0x00010001), ("create-label", LIMITED)]
    assert [d.result for d in log.all_named("perm-child")] == ["SUCCESS"]
