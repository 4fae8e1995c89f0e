# SPDX-License-Identifier: MIT
"""`./moat demo` (images/demo/demo.toml): boot it and check every step of the story on the console.

The steps (README, "What the demo shows", after the attestation that tests/attest covers):
1. customer A's a-web and a-db stream over vchan with a checksum both check; 2. customer B's b-app
is refused a channel to a-db (-EACCES, with the audit line); 3. c-rival (customer C, A's rival) is
refused by the Chinese Wall while A runs; 4. a revoke-mode policy update takes the heartbeat
channel between backup and a-db and both ends notice; 5. A's a-www and a-sql talk through the
switch domain on A's VLAN while B's b-sniff hears none of it; 6. each customer's management domain
pauses its own customer's domain and is refused (audited) on the other's; 7. A's manager destroys
A's domains and leaves, and c-rival starts; 8. a summary, every domain ends as expected and the
system stops with success.
The checks here read the console themselves; `moat demo`'s own reading (demo.story) must agree.
"""

from __future__ import annotations

import re

from moat import paths, qemu
from moat.commands import demo
from moat.pytest_plugin import Booter, assert_status, log_tail
from tests.domains import domlog
from tests.mac import maclog

DEMO_TIMEOUT = 240.0  # a few seconds of work; TCG on a loaded 2-core machine is slow
VCHAN_BYTES = 4 << 20  # DEMO_VCHAN_BYTES in images/demo/common/demo.h
SSID = {"system": 0x00010001, "customer-a": 0x00020002, "customer-b": 0x00030003, "customer-c": 0x00040004,
        "manager-a": 0x00050005, "manager-b": 0x00060006, "service": 0x00070007, "switch": 0x00080008,
        "tpm-agent": 0x00090009}  # the rows of docs/examples/policies/demo.toml
DOMID_INVALID = 0x7FF4


def index(lines: list[str], pattern: str) -> int:
    """The index of the one console line matching pattern (anchored); fails unless exactly one."""
    found = [i for i, line in enumerate(lines) if re.fullmatch(pattern, line)]
    assert len(found) == 1, f"expected one line matching {pattern!r}, found {len(found)}"
    return found[0]


def test_the_demo_tells_its_story(boot: Booter) -> None:
    result = boot(scenario_file=paths.repo_root() / demo.DEMO_SCENARIO, timeout=DEMO_TIMEOUT)
    assert_status(result, qemu.Status.SUCCESS)
    console, lines = result.console, result.console.splitlines()
    log = domlog.parse(console)
    tail = log_tail(result)

    # Nobody complained; the customers' first domains were destroyed by their managers, everyone
    # else (nine from the manifest, c-rival by domctl) powered off.
    assert not [line for line in lines if "FAILED" in line or "PANIC" in line], tail
    names = ["system", "a-web", "a-db", "b-app", "backup", "c-rival", "net-switch", "a-www", "a-sql", "b-sniff",
             "manager-a", "manager-b", "s-extra"]
    destroyed = ["a-web", "a-db", "b-app"]
    assert sorted(d.name for d in log.domains) == sorted(names), tail
    # Four CPUs, and the boot log says which one each manifest domain runs on: all are used.
    assert "cpus: 4 online" in lines, tail
    assert {d.cpu for d in log.domains if d.cpu is not None} == {0, 1, 2, 3}, tail
    assert all(log.named(n).outcome == "poweroff" for n in names if n not in destroyed), tail
    assert all((log.named(n).outcome, log.named(n).reason) == ("killed", "destroyed by domctl") for n in destroyed)
    for name, label in [("system", "system"), ("a-web", "customer-a"), ("a-db", "customer-a"),
                        ("b-app", "customer-b"), ("backup", "service"), ("net-switch", "switch"),
                        ("a-www", "customer-a"), ("a-sql", "customer-a"), ("b-sniff", "customer-b"),
                        ("manager-a", "manager-a"), ("manager-b", "manager-b")]:
        assert log.named(name).ssidref == SSID[label], name

    # 1. vchan within customer A: the same byte count and checksum at both ends.
    got = index(lines, r"\(d2\) a-db: vchan: received (\d+) bytes from a-web, all as expected, checksum (\w{16})")
    sent = index(lines, r"\(d1\) a-web: vchan: sent (\d+) bytes to a-db in \d+ ms, checksum (\w{16}), "
                        r"a-db's (\w{16}): match")
    g = re.search(r"received (\d+) bytes .* checksum (\w+)", lines[got])
    s = re.search(r"sent (\d+) bytes .* checksum (\w+), a-db's (\w+)", lines[sent])
    assert g and s
    assert int(g[1]) == int(s[1]) == VCHAN_BYTES
    assert g[2] == s[2] == s[3]

    # The only denials of the boot, in the documented format, and the only revocation: b-app's
    # channel, c-rival's start, and each manager's pause and destroy of the other customer's domain.
    denials = maclog.denials(console)
    assert denials == [
        maclog.Deny("evtchn_unbound", "3:b-app", "2:a-db", None, SSID["customer-b"], SSID["customer-a"]),
        maclog.Deny("domain_create", "0:system", "new:c-rival", "chinese-wall", SSID["system"], SSID["customer-c"]),
        maclog.Deny("privileged", "10:manager-b", "2:a-db", "pause", SSID["manager-b"], SSID["customer-a"]),
        maclog.Deny("privileged", "10:manager-b", "2:a-db", "destroy", SSID["manager-b"], SSID["customer-a"]),
        maclog.Deny("privileged", "9:manager-a", "3:b-app", "pause", SSID["manager-a"], SSID["customer-b"]),
        maclog.Deny("privileged", "9:manager-a", "3:b-app", "destroy", SSID["manager-a"], SSID["customer-b"]),
    ], tail

    # 6. Each manager manages its own customer's domain and is refused on the other's; the
    # refusals come after the hypervisor's audit lines, and before customer A leaves.
    for mgr, d, own, other in (("manager-a", 9, "a-web", 3), ("manager-b", 10, "b-app", 2)):
        paused = index(lines, rf"\(d{d}\) {mgr}: paused {own} \(domain \d, customer [AB]\): getdomaininfo says paused")
        resumed = index(lines, rf"\(d{d}\) {mgr}: unpaused {own}")
        deny_p = index(lines, rf"MAC deny hook=privileged subj={d}:{mgr} obj={other}:\S+ op=pause .*")
        said_p = index(lines, rf"\(d{d}\) {mgr}: pausing domain {other} \(another customer's\): refused with -EPERM .*")
        deny_d = index(lines, rf"MAC deny hook=privileged subj={d}:{mgr} obj={other}:\S+ op=destroy .*")
        said_d = index(lines, rf"\(d{d}\) {mgr}: destroying domain {other} \(another customer's\): refused .*")
        assert paused < resumed < deny_p < said_p < deny_d < said_d, mgr

    # 2. b-app is refused a channel to a-db, and says so after the hypervisor's line.
    deny_b = index(lines, r"MAC deny hook=evtchn_unbound .*")
    said_b = index(lines, r"\(d3\) b-app: refused with -EACCES \(-13\), as the policy intends: .*")
    assert deny_b < said_b

    # 9. (during step 2) Customer B is held to its limits. b-app, capped at 20 % of a CPU, spins while
    # the system domain reads its meters: it used at most its cap (30: without -icount a host that
    # stops a CPU lets it overrun a little, repaid later; uncapped it would use the whole CPU).
    capped = index(lines, r"\(d0\) system: b-app is capped at 20 %: used (\d+) % of a CPU while it spun "
                          r"\((\d+) of (\d+) us, getstats\)")
    m = re.search(r"used (\d+) % .*\((\d+) of (\d+) us", lines[capped])
    assert m and 10 <= int(m[1]) <= 30 and int(m[3]) >= 1_000_000, lines[capped]
    spinning = index(lines, r"\(d3\) b-app: spinning: my cap says 20 % of a CPU")
    # Customer B holds 2 of its 2 domains (b-app, b-sniff): the hypervisor refuses a third and says
    # why, the system domain is told -ENOSPC; the service label still creates one (s-extra), which
    # says hello. (The hypervisor's line and the system's are on one CPU, in causal order.)
    quota = index(lines, r"quota: domain 'b-extra' \(ssidref 0x00030003\) refused: label row 3 holds 2 of its "
                         r"2 domains")
    at_quota = index(lines, r"\(d0\) system: creating b-extra \(customer-b\): refused with -ENOSPC \(-28\): "
                            r"customer B is at its quota of 2 domains")
    made = index(lines, r"\(d0\) system: creating s-extra \(service\): created as domain (\d+): another label "
                        r"still can \(on cpu [0-3]\)$")
    extra = int(re.search(r"domain (\d+):", lines[made])[1])  # type: ignore[index]
    index(lines, rf"\(d{extra}\) s-extra: hello from the service label: domain {extra}, "
                 rf"ssidref 0x{SSID['service']:08x}, created while customer B was at its quota")
    assert log.named("s-extra").outcome == "poweroff"  # its label: the hello line above
    assert said_b < spinning < capped < quota < at_quota < made, tail
    # No domain of customer B was created: b-extra never got a domain line.
    assert not [line for line in lines if "'b-extra' created" in line], tail

    # 3. and 7. c-rival: refused while A runs; A's manager destroys A's domains; then created, and
    # it says hello.
    deny_c = index(lines, r"MAC deny hook=domain_create .*")
    refused = index(lines, r"\(d0\) system: creating c-rival \(customer-c\): refused with -EPERM \(-1\): .*")
    web_gone = index(lines, r"domain 1 'a-web' stopped: killed: destroyed by domctl")
    db_gone = index(lines, r"domain 2 'a-db' stopped: killed: destroyed by domctl")
    wound = [index(lines, rf"\(d9\) manager-a: destroyed domain {i} \(customer A\)") for i in (1, 2)]
    mgr_gone = index(lines, r"domain 9 'manager-a' stopped: poweroff")
    assert web_gone < wound[0] and db_gone < wound[1] and max(wound) < mgr_gone
    watched = [index(lines, rf"\(d0\) system: {n} \(domain {i}\) is gone: getdomaininfo says -ESRCH")
               for n, i in (("a-web", 1), ("a-db", 2))]
    created = index(lines, r"\(d0\) system: creating c-rival \(customer-c\): created as domain (\d+), on cpu [0-3]$")
    rival = int(re.search(r"domain (\d+), on cpu", lines[created])[1])  # type: ignore[index]
    hello = index(lines, rf"\(d{rival}\) c-rival: hello from customer C: domain {rival}, "
                         rf"ssidref 0x{SSID['customer-c']:08x}, .*")
    # The wall held while A ran; the system saw each of A's domains gone only after it stopped (in
    # whichever order they stop); C started only after both were gone.
    assert deny_c < refused < min(web_gone, db_gone)
    assert web_gone < watched[0] and db_gone < watched[1], (web_gone, db_gone, watched)
    # On several CPUs c-rival may say hello before the system's "created" line: the two run at once.
    assert max(watched) < min(created, hello)
    assert mgr_gone < min(created, hello)  # the Chinese Wall waited for A's manager too
    assert all(i < deny_c for i in (got, sent, said_b)), "steps 1 and 2 come first"

    # 4. Heartbeats, then the update in revoke mode takes exactly that channel; both ends notice.
    beats = [index(lines, rf"\(d4\) backup: heartbeat {i} from a-db") for i in (1, 2, 3)]
    acks = [index(lines, rf"\(d2\) a-db: heartbeat {i} acknowledged by backup") for i in (1, 2, 3)]
    assert all(b < a for b, a in zip(beats, acks, strict=True)), tail
    live = index(lines, r"\(d2\) a-db: backup contract live: event channel port (\d+) <-> backup port 2")
    db_port = int(re.search(r"port (\d+) <->", lines[live])[1])  # type: ignore[index]
    revoke = index(lines, rf"MAC revoke evtchn (2:a-db port {db_port} <-> 4:backup|4:backup port 2 <-> 2:a-db)")
    assert [line for line in lines if line.startswith("MAC revoke")] == [lines[revoke]]
    loaded = index(lines, r"mac: policy 'moat-demo' version 1\.1 loaded \(revoke mode\): revoked 1 event "
                          r"channels, 0 grant mappings.*")
    noticed = [index(lines, rf"\(d{d}\) {n}: noticed: port {p} is pending and now unbound, remote "
                            rf"0x{DOMID_INVALID:x} \(DOMID_INVALID\): .*")
               for d, n, p in ((2, "a-db", db_port), (4, "backup", 2))]
    # The audit lines are deferred (printed at the revoking CPU's next console output or idle),
    # so on two CPUs an end that notices at once may print before them; what is ordered is the
    # channel going live, then the revocation and the load's line, and each end noticing after.
    assert max(acks) < live < revoke < loaded and live < min(noticed)
    assert max(noticed) < created, "customer A noticed the revocation before leaving"
    index(lines, r"\(d0\) system: policy moat-demo 1\.1 loaded: 1 event channel\(s\), 0 grant mapping\(s\) revoked")

    # 5. The network: A's web and db through the switch, on A's VLAN (STE type customer-a: VLAN 1);
    # B's b-sniff on VLAN 2 of the same switch finds A out of reach and hears none of A's frames.
    # All four leave before A's other domains do (so the Chinese Wall step is unchanged).
    for n, d in (("a-www", 6), ("a-sql", 7)):
        index(lines, rf"link \d: 5:net-switch <-> {d}:{n}, shared STE types 0x1")
    index(lines, r"link 2: 5:net-switch <-> 8:b-sniff, shared STE types 0x2")
    apart = index(lines, r"\(d8\) b-sniff: on the switch, VLAN 2; looked for a-www \(10\.0\.0\.1\): no answer, "
                         r"customer A is out of reach")
    pinged = index(lines, r"\(d6\) a-www: ping a-sql \(10\.0\.0\.2\) through the switch: 5/5 replies")
    streamed = index(lines, r"\(d6\) a-www: streamed 1048576 bytes of UDP to a-sql in \d+ datagrams, "
                            r"checksum (\w{16}), a-sql's (\w{16}): match")
    received = index(lines, r"\(d7\) a-sql: received 1048576 bytes from a-www \(10\.0\.0\.1\), all as expected, "
                            r"checksum (\w{16})")
    sums = re.findall(r"checksum (\w{16}), a-sql's (\w{16})", lines[streamed])[0]
    assert sums[0] == sums[1] == lines[received][-16:]  # one checksum at both ends
    heard = index(lines, r"\(d8\) b-sniff: listened while customer A talked: heard \d+ frames, 0 of them customer A's")
    switch_out = re.search(r"\(b-sniff\): in \d+ out (\d+) ", "\n".join(log.named("net-switch").lines))
    assert switch_out and switch_out[1] == "0", tail  # nothing of VLAN 1 ever went to B's port
    assert "switch: stopped: 3 ports down, 99 of 99 grants ended, table: 3 learned, 0 evicted" in \
        log.named("net-switch").lines, tail
    step5 = index(lines, r"\(d0\) system: === step 5: .*")
    assert max(noticed) < step5 < apart < pinged < streamed < heard < min(web_gone, db_gone)
    assert index(lines, r"domain 7 'a-sql' stopped: poweroff") < created, "A's db left before C came"

    # 8. The summary, then everyone is gone and the system stops with success.
    summary = index(lines, r"\(d0\) system: summary:")
    for pattern in (r"allowed: a-web <-> a-db vchan, 4194304 bytes, checksums match .*",
                    r"refused: b-app -> a-db event channel, -EACCES .*; evtchn_unbound denials: 1",
                    r"refused: c-rival while customer A ran, -EPERM .*; domain_create denials: 1",
                    r"refused: each manager's pause and destroy of the other customer's domain, -EPERM; "
                    r"privileged denials: 4",
                    r"revoked: 1 event channel \(backup <-> a-db\) .*",
                    r"limited: b-app capped at 20 % of a CPU; customer B's third domain refused at its quota, "
                    r"-ENOSPC"):
        assert summary < index(lines, rf"\(d0\) system:   {pattern}"), pattern
    assert summary < index(lines, r"\(d0\) system: the story went as the policy intends")
    # Thirteen domains, and the attestation agent: without a TPM (this boot) it is not built, as expected
    # (tests/attest/test_demo_attest.py boots the demo with one).
    assert (log.as_expected, log.not_expected) == (14, 0), tail
    assert not [line for line in lines if line.startswith("Test result:")]  # no XTF: demo guests use main()
    assert lines[-1] == "moat: stop: success", tail
    # Every frame came back but the live policy's: the update loaded at run time stays in
    # hypervisor frames (one blob page and its vmap page tables) after the domains are gone.
    assert log.frames_boot and log.frames_stop
    total, free, used, reserved = log.frames_boot
    assert log.frames_stop == (total, free - demo.POLICY_FRAMES, used + demo.POLICY_FRAMES, reserved), tail

    # `moat demo` reads the same story from the console, and notices when a step is missing.
    assert all(step.ok for step in demo.story(console)), demo.story(console)
    without_deny = "\n".join(line for line in lines if not line.startswith("MAC deny hook=evtchn_unbound"))
    assert [s.ok for s in demo.story(without_deny)] == [True, False, True, True, True, True, True, True, True]
    early = lines[:refused] + lines[hello:hello + 1] + lines[refused:hello] + lines[hello + 1:]
    assert [s.ok for s in demo.story("\n".join(early))] == [True, True, True, True, True, True, False, True, True]
    # ... when customer B hears customer A ...
    leaked = console.replace("heard 0 frames, 0 of them customer A's", "heard 9 frames, 9 of them customer A's")
    assert [s.ok for s in demo.story(leaked)] == [True, True, True, True, False, True, True, True, True]
    # ... and when a manager's refusal goes unaudited.
    unaudited = "\n".join(line for line in lines if "subj=9:manager-a obj=3:b-app op=destroy" not in line)
    assert [s.ok for s in demo.story(unaudited)] == [True, True, True, True, True, False, True, True, True]
    # ... and when customer B is not held to its limits: the quota line missing, or b-app over its cap.
    unlimited = "\n".join(line for line in lines if not line.startswith("quota: "))
    assert [s.ok for s in demo.story(unlimited)] == [True] * 8 + [False]
    over = re.sub(r"b-app is capped at 20 %: used \d+ %", "b-app is capped at 20 %: used 97 %", console)
    assert [s.ok for s in demo.story(over)] == [True] * 8 + [False]


def test_story_on_a_failed_boot_shows_nothing() -> None:
    console = ("moat 0.1.0 x86-64 hypervisor\n(d0) system: FAILED: a-web did not finish\n"
               "moat: all domains stopped: 4 as expected, 1 not\nmoat: stop: failure\n")
    assert [s.ok for s in demo.story(console)] == [False] * 9
    assert all(s.text for s in demo.story(console))


def test_an_uncapped_b_app_fails_the_story_and_the_customers_leave_at_once(boot: Booter, tmp_path) -> None:
    """The demo with b-app's `cap = 20` taken out. The system domain stretches a window in which
    b-app used more than 30 % (a host that stops a CPU makes a capped domain overrun; the debt is
    repaid within a few seconds), but an uncapped b-app stays over it in every window: the story
    fails there. The customers' domains then waiting for their managers leave as soon as the
    system domain is gone, not at their 180 s deadline (the boot's timeout is shorter than that)."""
    scenario = paths.repo_root() / demo.DEMO_SCENARIO
    text = scenario.read_text()
    assert text.count("\ncap = 20 ") == 1 and text.count('policy = "../../') == 1
    text = text.replace("\ncap = 20 ", "\n# no cap ").replace('policy = "../../', f'policy = "{paths.repo_root()}/')
    (tmp_path / "uncapped.toml").write_text(text)
    result = boot(scenario_file=tmp_path / "uncapped.toml", timeout=120.0)
    assert_status(result, qemu.Status.FAILURE)
    lines, log, tail = result.console.splitlines(), domlog.parse(result.console), log_tail(result)
    stretched = [re.fullmatch(r"\(d0\) system: b-app used (\d+) % of a CPU in the first (\d+) ms: more than its cap "
                              r"unless the host stopped a CPU while it ran \(a debt it repays from its next "
                              r"budgets\); measuring on", line) for line in lines]
    windows = [(int(m[1]), int(m[2])) for m in stretched if m]
    assert len(windows) == 4 and all(used > 30 for used, _ in windows), tail
    assert [ms // 1000 for _, ms in windows] == [1, 2, 3, 4], tail
    failed = index(lines, r"\(d0\) system: FAILED: b-app used (\d+) % of a CPU over (\d+) ms, far over its cap of 20")
    m = re.search(r"used (\d+) % of a CPU over (\d+) ms", lines[failed])
    assert m and int(m[1]) > 30 and int(m[2]) >= 5000, lines[failed]
    assert not [line for line in lines if "b-app is capped at" in line], tail
    # a-web and b-app were waiting for their managers: each leaves at once (a-db and the other
    # actors were waiting for their next "go", and leave as before: their control port turned
    # unbound). Nobody waits for a deadline.
    for name in ("a-web", "b-app"):
        index(lines, rf"\(d\d+\) {name}: FAILED: the system domain is gone: the story failed")
        assert log.named(name).outcome == "crash", tail
    assert not [line for line in lines if "never ended us" in line or "never said go" in line], tail
