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
from pathlib import Path

from moat import building, outputs, paths
from moat.attest.reference import Reference, compute
from moat.attest.report import for_label, print_verdict
from moat.attest.run import attested_run
from moat.attest.verify import Verdict
from moat.boot import report

DEMO_SCENARIO = "images/demo/demo.toml"
DEMO_TIMEOUT = 180.0  # the story takes a few seconds under TCG; a loaded machine is slower
# The update the demo loads stays in hypervisor frames after every domain is gone, as the live
# policy must: one page for its blob and the page tables of the vmap slot that maps it.
POLICY_FRAMES = 3
HEARTBEATS = 3  # DEMO_HEARTBEATS in images/demo/common/demo.h


DESCRIPTION = f"""\
Build everything (one progress line), boot {DEMO_SCENARIO} in QEMU (one server, customers A, B
and C under one MAC policy, the story run in eight numbered steps by the system domain), stream
the console, then explain each step from what the console showed.

reads:  {DEMO_SCENARIO}, docs/examples/policies/demo.toml and demo-update.toml, build/
writes: build/modules/, build/policies/ (the staged boot modules), --log FILE
"""

EPILOG = """\
exit status: 0 every step happened as intended; 1 a step did not (or the system stopped with
failure); 2 crash or timeout; 3 moat could not run it (nothing built, no QEMU)
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="build and boot the demo, then explain what it showed",
                       description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=float, default=DEMO_TIMEOUT, metavar="S",
                   help=f"kill QEMU after S seconds (default {DEMO_TIMEOUT:g})")
    p.add_argument("--no-build", action="store_true", help="do not run SCons first")
    p.add_argument("--log", type=Path, metavar="FILE", help="also write the console to FILE")
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


def _held_to_limits(console: str) -> Step:
    title = "customer B is held to its limits (during step 2): a CPU cap and a domain quota"
    capped = _guest(console, "system", r"b-app is capped at 20 %: used (\d+) % of a CPU while it spun .*")
    hv = _line(console, r"quota: domain 'b-extra' \(ssidref 0x[0-9a-f]{8}\) refused: label row \d+ holds 2 of "
                        r"its 2 domains")
    refused = _guest(console, "system", r"creating b-extra \(customer-b\): refused with -ENOSPC \(-28\): .*")
    other = _guest(console, "system", r"creating s-extra \(service\): created as domain \d+: another label still can"
                                              r"(?: \(on cpu \d+\))?")
    if not (capped and int(capped[2]) <= 30 and hv and refused and other):
        return Step(title, False, "b-app's measured share under its cap, or the quota refusal of b-extra beside "
                                  "s-extra's creation, is missing")
    return Step(title, True,
                f"b-app, capped at 20 % of a CPU (images/demo/demo.toml), spun and used {capped[2]} % by its "
                f"meters (getstats); customer B, at its quota of 2 domains, was refused a third, `{hv[0]}`, "
                "while the service label still created one.")


def _rival_waits(console: str) -> Step:
    title = "customer C is kept out by the Chinese Wall while A runs"
    deny = _line(console, r"MAC deny hook=domain_create subj=\d+:system obj=new:c-rival op=chinese-wall "
                          r"ssid=0x[0-9a-f]{8}/0x[0-9a-f]{8}")
    refused = _guest(console, "system", r"creating c-rival \(customer-c\): refused with -EPERM .*")
    if not (deny and refused):
        return Step(title, False, "the Chinese Wall refusal of c-rival is missing")
    return Step(title, True,
                "while a-web and a-db ran, the system domain's request to create c-rival (customer C) "
                f"was refused with -EPERM, `{deny[0]}`: customers A and C are rival banks in one "
                "conflict set.")


def _rival_starts(console: str) -> Step:
    title = "customer A leaves (its management domain destroys its domains), and customer C starts"
    refused = _guest(console, "system", r"creating c-rival \(customer-c\): refused with -EPERM .*")
    created = _guest(console, "system", r"creating c-rival \(customer-c\): created as domain (\d+)(?:, on cpu \d+)?")
    gone = [_line(console, rf"domain \d+ '{n}' stopped: killed: destroyed by domctl") for n in ("a-web", "a-db")]
    hello = _guest(console, "c-rival", r"hello from customer C: .*")
    wound = _guest(console, "manager-a", r"customer A's domains are gone")
    if not (wound and all(gone)):
        return Step(title, False, "customer A's management domain did not destroy a-web and a-db")
    if not (created and hello):
        return Step(title, False, "c-rival was not created, or did not say hello, after customer A left")
    # On several CPUs c-rival may say hello before the system domain's `created` line: both come
    # after A's exit, in either order.
    if not (_pos(refused) < max(map(_pos, gone)) < min(_pos(created), _pos(hello))):
        return Step(title, False, "c-rival's refusal, A's exit and c-rival's start are out of order")
    return Step(title, True,
                "once customer A's management domain had destroyed both of A's domains and left (the "
                "system domain watched them go with getdomaininfo), the same request succeeded: c-rival "
                f"ran as domain {created[2]} and said hello.")


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
    deny = _line(console, r"MAC deny hook=privileged subj=\d+:manager-a obj=\d+:b-app op=pause .*")
    return Step(title, True,
                "customer A's management domain paused and resumed a-web, and customer B's b-app: their "
                "permissions name only their own customer's label. Each was refused, with -EPERM and an "
                "audit line, when it tried to pause or destroy the other customer's domain "
                f"(`{deny[0] if deny else ''}`).")


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
    db, bk = noticed["a-db"], noticed["backup"]
    assert db is not None and bk is not None
    return Step(title, True,
                "backup (a service domain) and a-db exchanged heartbeats over an event channel; then "
                "the system domain loaded moat-demo 1.1, in which customer A has ended its backup "
                "contract, in revoke mode. The hypervisor closed the channel at both ends "
                f"(`{revoke[0]}`), and both domains woke up to find their port (a-db's {db[2]}, "
                f"backup's {bk[2]}) pending and unbound to DOMID_INVALID, and said so.")


def _network(console: str) -> Step:
    title = "customer A's web and db talk through the network switch; B, on the same switch, hears none of it"
    links = {n: _line(console, rf"link \d+: \d+:net-switch <-> \d+:{n}, shared STE types 0x([0-9a-f]+)")
             for n in ("a-www", "a-sql", "b-sniff")}
    pinged = _guest(console, "a-www", r"ping a-sql \(10\.0\.0\.2\) through the switch: (\d+)/(\d+) replies")
    sent = _guest(console, "a-www", r"streamed (\d+) bytes of UDP to a-sql in \d+ datagrams, checksum ([0-9a-f]{16}), "
                                    r"a-sql's ([0-9a-f]{16}): match")
    got = _guest(console, "a-sql", r"received (\d+) bytes from a-www \(10\.0\.0\.1\), all as expected, "
                                   r"checksum ([0-9a-f]{16})")
    apart = _guest(console, "b-sniff", r"on the switch, VLAN (\d+); looked for a-www \(10\.0\.0\.1\): no answer, "
                                       r"customer A is out of reach")
    heard = _guest(console, "b-sniff", r"listened while customer A talked: heard (\d+) frames, 0 of them customer A's")
    port = re.search(r"^\(d\d+\) switch: port \d+ \(b-sniff\): in \d+ out (\d+) ", console, re.M)
    if not all(links.values()):
        return Step(title, False, "the hypervisor's lines for the switch's three links are missing")
    # (group 1 of a guest line is its domain id)
    if not (pinged and sent and got and pinged[2] == pinged[3]):
        return Step(title, False, "a-www's pings or stream to a-sql, or a-sql's report, are missing")
    if not (sent[2] == got[2] and sent[3] == sent[4] == got[3]):
        return Step(title, False, "a-www and a-sql disagree on the byte count or the checksum")
    if not (apart and heard):
        return Step(title, False, "b-sniff's reports (A out of reach, none of A's frames heard) are missing")
    if not (_pos(apart) < _pos(sent) < _pos(heard)):
        return Step(title, False, "b-sniff did not listen all through customer A's exchange")
    delivered = f"; the switch delivered it {port[1]} frames in all" if port else ""
    return Step(title, True,
                "a switch domain (net-switch) has a link to each of a-www and a-sql (customer A) and "
                "b-sniff (customer B), listed in the scenario and published by the hypervisor in each "
                "domain's start info; each customer is a VLAN of its own, the STE type it shares with the "
                f"switch. a-www pinged a-sql through the switch ({pinged[2]}/{pinged[3]} replies) and "
                f"streamed {int(sent[2]):,} bytes of UDP to it; both computed checksum {sent[3]}. b-sniff, on "
                f"VLAN {apart[2]} of the same switch, found a-www out of reach, then listened all through A's "
                f"exchange: it heard {heard[2]} frames, none of them A's{delivered}.")


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
    """The demo's steps, each found (or not) in the console, numbered as the system domain's `=== step n`;
    the ninth, customer B's limits, is shown during step 2."""
    return [_vchan(console), _refused_channel(console), _rival_waits(console), _revocation(console),
            _network(console), _managers(console), _rival_starts(console), _ending(console),
            _held_to_limits(console)]


def run(args: argparse.Namespace) -> int:
    root = paths.repo_root()
    if args.log is not None:
        outputs.open_log(args.log)
    if not args.no_build:
        building.build_or_fail()
    scen_path = root / DEMO_SCENARIO
    # Before the story: the server is verified for customer A (docs/attestation.md).
    ref = attest_reference(scen_path)
    print(f"moat: booting {DEMO_SCENARIO} under QEMU (TCG) with a TPM; the server is verified for customer A "
          "before the story starts\n", file=sys.stderr, flush=True)
    run_ = attested_run(scen_path, ref, tpm_name="demo", timeout=args.timeout or DEMO_TIMEOUT, log=args.log,
                        on_line=lambda line: print(line, flush=True),
                        on_verdict=lambda v: _say_verdict(ref, v))
    result = run_.result
    status = report(result)
    steps = story(result.console)
    print("\nWhat you just saw: one server hosting the domains of competing customers under one "
          "mandatory access control policy (docs/examples/policies/demo.toml).")
    print(f"  0. {ATTEST_TITLE}: " + (attested_text(run_.verdict) if run_.verdict.ok
                                      else "NOT SHOWN: " + "; ".join(run_.verdict.problems)))
    for i, s in enumerate(steps, 1):
        print(f"  {i}. {s.title}: {s.text}" if s.ok else f"  {i}. {s.title}: NOT SHOWN: {s.text}")
    if status != 0:
        return status
    if not run_.verdict.ok:
        print("\nmoat demo: the server did not verify (see above).", file=sys.stderr)
        return 1
    if not all(s.ok for s in steps):
        print("\nmoat demo: the story did not happen as intended (see above).", file=sys.stderr)
        return 1
    print("\nNext: docs/mac.md explains the policy checks; docs/attestation.md what the verification "
          "means; ./moat test runs the test suite; ./moat run --help shows how to boot your own scenarios.")
    return 0


ATTEST_TITLE = "customer A verifies the server before the story"


def attest_reference(scen_path: Path) -> Reference:
    return compute(scen_path)


def _say_verdict(ref: Reference, verdict: Verdict) -> None:
    print("\n=== moat attest: the server, as customer A's verifier sees it through the TPM ===", flush=True)
    print_verdict(verdict)
    print(for_label(ref, verdict, "customer-a"))
    print("=== the story starts now ===\n", flush=True)


def attested_text(verdict: Verdict) -> str:
    f = verdict.facts
    doms = ", ".join(f"{d['name']} ({d['label']})" for d in f["domains"])
    return (f"the attestation agent (a domain holding the TPM) proved with a TPM quote over a fresh nonce, "
            f"signed by a key bound to the TPM's certified EK, that the server booted hypervisor "
            f"{f['hypervisor']['sha256'][:16]}... with policy '{f['boot_policy']['name']}' "
            f"{f['boot_policy']['version']} and exactly these domains and labels: {doms}; both event logs "
            "replayed to the quoted PCRs.")
