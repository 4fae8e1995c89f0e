# SPDX-License-Identifier: MIT
"""`moat demo`: build, boot the demo scenario, then explain what the console showed.

The scenario (images/demo/demo.toml) is a server hosting the domains of competing customers under
docs/examples/policies/demo.toml. Its system domain runs the story step by step; this command
streams the console and then reads the story back from it (`story`): each step is found from the
guests' and the hypervisor's own lines, and the command succeeds only if every step happened.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

from moat import paths, scenario
from moat.commands.build import build_or_fail
from moat.commands.run import boot_scenario, report

DEMO_SCENARIO = "images/demo/demo.toml"
DEMO_TIMEOUT = 180.0  # the story takes a few seconds under TCG; a loaded machine is slower
# The update the demo loads stays in hypervisor frames after every domain is gone, as the live
# policy must: one page for its blob and the page tables of the vmap slot that maps it.
POLICY_FRAMES = 3
HEARTBEATS = 3  # DEMO_HEARTBEATS in images/demo/common/demo.h


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="build and boot the demo, then explain what it showed",
                       description=f"Build everything, boot {DEMO_SCENARIO} in QEMU (customers A, B "
                                   "and C under one MAC policy) and explain the console output.",
                       allow_abbrev=False)
    p.add_argument("--timeout", type=float, default=DEMO_TIMEOUT, metavar="S",
                   help=f"kill QEMU after S seconds (default {DEMO_TIMEOUT:g})")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Step:
    title: str
    ok: bool
    text: str  # what the viewer saw (ok) or what is missing (not ok)


def _guest(console: str, name: str, pattern: str) -> re.Match[str] | None:
    """The first `(d<id>) <name>: <text>` line whose text matches pattern (anchored at both ends)."""
    return re.search(rf"^\(d(\d+)\) {re.escape(name)}: {pattern}$", console, re.M)


def _line(console: str, pattern: str) -> re.Match[str] | None:
    return re.search(rf"^{pattern}$", console, re.M)


def _pos(m: re.Match[str] | None) -> int:
    return m.start() if m else -1


def _vchan(console: str) -> Step:
    title = "customer A's two domains talk over vchan"
    got = _guest(console, "a-db", r"vchan: received (\d+) bytes from a-web, all as expected, checksum ([0-9a-f]{16})")
    sent = _guest(console, "a-web", r"vchan: sent (\d+) bytes to a-db in (\d+) ms, checksum ([0-9a-f]{16}), "
                                    r"a-db's ([0-9a-f]{16}): match")
    if not (got and sent):
        return Step(title, False, "a-web's and a-db's vchan lines are missing")
    if not (got[2] == sent[2] and got[3] == sent[4] == sent[5]):
        return Step(title, False, "a-web and a-db disagree on the byte count or the checksum")
    return Step(title, True,
                f"a-web streamed {int(sent[2]):,} bytes to a-db over vchan (one granted page and one "
                f"event channel, allowed because both domains carry customer A's type) in {sent[3]} ms; "
                f"a-db checked every byte, and both computed checksum {sent[4]}.")


def _refused_channel(console: str) -> Step:
    title = "customer B is refused a channel to customer A"
    deny = _line(console, r"MAC deny hook=evtchn_unbound subj=\d+:b-app obj=\d+:a-db ssid=0x[0-9a-f]{8}/0x[0-9a-f]{8}")
    said = _guest(console, "b-app", r"refused with -EACCES \(-13\), as the policy intends: .*")
    if not (deny and said):
        return Step(title, False, "the MAC deny line for b-app, or b-app's own report, is missing")
    return Step(title, True,
                "b-app (customer B) asked for an event channel to a-db; the hypervisor refused it with "
                f"-EACCES and said why in one audit line, `{deny[0]}`: customers A and B share no "
                "STE type. b-app reported the refusal.")


def _chinese_wall(console: str) -> Step:
    title = "customer C is kept out by the Chinese Wall while A runs, and starts after"
    deny = _line(console, r"MAC deny hook=domain_create subj=\d+:system obj=new:c-rival op=chinese-wall "
                          r"ssid=0x[0-9a-f]{8}/0x[0-9a-f]{8}")
    refused = _guest(console, "system", r"creating c-rival \(customer-c\): refused with -EPERM .*")
    created = _guest(console, "system", r"creating c-rival \(customer-c\): created as domain (\d+)")
    gone = [_line(console, rf"domain \d+ '{n}' stopped: killed: destroyed by domctl") for n in ("a-web", "a-db")]
    hello = _guest(console, "c-rival", r"hello from customer C: .*")
    if not (deny and refused):
        return Step(title, False, "the Chinese Wall refusal of c-rival is missing")
    if not (created and hello and all(gone)):
        return Step(title, False, "c-rival was not created, or did not say hello, after customer A left")
    if not (_pos(refused) < max(map(_pos, gone)) < _pos(created) < _pos(hello)):
        return Step(title, False, "c-rival's refusal, A's exit and c-rival's start are out of order")
    return Step(title, True,
                "while a-web and a-db ran, the system domain's request to create c-rival (customer C) "
                f"was refused with -EPERM, `{deny[0]}`: customers A and C are rival banks in one "
                "conflict set. Once customer A's management domain had destroyed both of A's domains "
                "and left (the system domain watched them go with getdomaininfo), the same request "
                f"succeeded: c-rival ran as domain {created[2]} and said hello.")


def _managers(console: str) -> Step:
    title = "each customer's management domain manages its own domains, and nobody else's"
    managers = (("manager-a", "a-web", "b-app"), ("manager-b", "b-app", "a-db"))
    for mgr, own, other in managers:
        paused = _guest(console, mgr, rf"paused {own} \(domain \d+, customer [AB]\): getdomaininfo says paused")
        refused = [_guest(console, mgr, rf"{what} domain \d+ \(another customer's\): refused with -EPERM .*")
                   for what in ("pausing", "destroying")]
        denied = [_line(console, rf"MAC deny hook=privileged subj=\d+:{mgr} obj=\d+:{other} op={op} "
                                 r"ssid=0x[0-9a-f]{8}/0x[0-9a-f]{8}") for op in ("pause", "destroy")]
        if not paused:
            return Step(title, False, f"{mgr} did not pause and resume its own {own}")
        if not (all(refused) and all(denied)):
            return Step(title, False, f"{mgr}'s attempts on {other} were not both refused and audited")
    wound = _guest(console, "manager-a", r"destroyed domain \d+ \(customer A\)")
    if not wound:
        return Step(title, False, "manager-a did not destroy customer A's domains")
    deny = _line(console, r"MAC deny hook=privileged subj=\d+:manager-a obj=\d+:b-app op=pause .*")
    return Step(title, True,
                "customer A's manager paused and resumed a-web, and customer B's manager b-app: "
                "their permissions name only their own customer's label. Each was refused, with "
                f"-EPERM and an audit line, when it tried to pause or destroy the other customer's "
                f"domain (`{deny[0] if deny else ''}`); later A's manager destroyed a-web and a-db "
                "when customer A left, as its permissions allow.")


def _revocation(console: str) -> Step:
    title = "a policy update in revoke mode takes away a live channel, and both ends notice"
    revoke = _line(console, r"MAC revoke evtchn (?:\d+:a-db port \d+ <-> \d+:backup|\d+:backup port \d+ <-> \d+:a-db)")
    loaded = _line(console, r"mac: policy 'moat-demo' version 1\.1 loaded \(revoke mode\): revoked 1 event channels, "
                            r"0 grant mappings.*")
    beats = _guest(console, "a-db", rf"heartbeat {HEARTBEATS} acknowledged by backup")
    noticed = {n: _guest(console, n, r"noticed: port (\d+) is pending and now unbound, remote 0x7ff4 "
                                     r"\(DOMID_INVALID\): .*") for n in ("a-db", "backup")}
    if not (beats and revoke and loaded):
        return Step(title, False, "the heartbeats, the revocation line or the policy load line is missing")
    if not all(noticed.values()):
        return Step(title, False, "a-db or backup did not report the revoked channel")
    if not all(_pos(loaded) < _pos(m) for m in noticed.values()):
        return Step(title, False, "a revocation was reported before the policy was loaded")
    db, bk = noticed["a-db"], noticed["backup"]
    return Step(title, True,
                "backup (a service domain) and a-db exchanged heartbeats over an event channel; then "
                "the system domain loaded moat-demo 1.1, in which customer A has ended its backup "
                "contract, in revoke mode. The hypervisor closed the channel at both ends "
                f"(`{revoke[0]}`), and both domains woke up to find their port (a-db's {db[2]}, "
                f"backup's {bk[2]}) pending and unbound to DOMID_INVALID, and said so.")


def _ending(console: str) -> Step:
    title = "a summary, and everything shuts down cleanly"
    summary = _guest(console, "system", r"the story went as the policy intends")
    stopped = _line(console, r"moat: all domains stopped: (\d+) as expected, 0 not")
    success = _line(console, r"moat: stop: success")
    if not (summary and stopped and success):
        return Step(title, False, "the system domain's summary, or a clean stop of every domain, is missing")
    text = (f"the system domain printed what was allowed, refused and revoked; all {stopped[1]} "
            "domains ended as expected and the hypervisor stopped with success.")
    boot = _line(console, r"frames: total=(\d+) free=(\d+) used=\d+ reserved=(\d+)")
    stop = _line(console, r"frames at stop: total=(\d+) free=(\d+) used=\d+ reserved=(\d+)")
    if (boot and stop and (boot[1], boot[3]) == (stop[1], stop[3])
            and int(boot[2]) - int(stop[2]) == POLICY_FRAMES):
        text += (f" Every frame the domains used came back: {stop[2]} free at the end, the boot "
                 f"count less the {POLICY_FRAMES} that hold the policy loaded at run time.")
    return Step(title, True, text)


def story(console: str) -> list[Step]:
    """The demo's steps, each found (or not) in the console."""
    return [_vchan(console), _refused_channel(console), _chinese_wall(console), _revocation(console),
            _managers(console), _ending(console)]


def run(args: argparse.Namespace) -> int:
    root = paths.repo_root()
    build_or_fail()
    scen = scenario.load(root / DEMO_SCENARIO)
    print(f"moat: booting {DEMO_SCENARIO} under QEMU (TCG)\n", file=sys.stderr, flush=True)
    result = boot_scenario(scen, timeout=args.timeout or None)
    status = report(result)
    steps = story(result.console)
    print("\nWhat you just saw: one server hosting the domains of competing customers under one "
          "mandatory access control policy (docs/examples/policies/demo.toml).")
    for i, s in enumerate(steps, 1):
        print(f"  {i}. {s.title}: {s.text}" if s.ok else f"  {i}. {s.title}: NOT SHOWN: {s.text}")
    if status != 0:
        return status
    if not all(s.ok for s in steps):
        print("\nmoat demo: the story did not happen as intended (see above).", file=sys.stderr)
        return 1
    print("\nNext: docs/mac.md explains the policy checks; ./moat test runs the test suite; "
          "./moat run --help shows how to boot your own scenarios.")
    return 0
