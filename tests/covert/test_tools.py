# SPDX-License-Identifier: MIT
"""The covert-channel tools without booting: the bit string, decoding, capacity, the console
parser, the noninterference comparison and its channel names, and the inventory against
docs/covert-channels.md."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from moat import scenario
from moat.covert import inventory, pairs
from moat.covert import noninterference as ni

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "covert-channels.md"


# ---- the bit string and decoding ------------------------------------------------------------


def test_expected_bits_are_the_preamble_then_xorshift64():
    bits = pairs.expected_bits(1, 4)
    assert bits[:16] == [1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1]  # 0xa5a5, msb first
    # xorshift64 (13, 7, 17) from 1, by hand: the top bit of each state.
    x, want = 1, []
    for _ in range(4):
        x ^= (x << 13) % 2**64
        x ^= x >> 7
        x ^= (x << 17) % 2**64
        want.append(x >> 63)
    assert bits[16:] == want
    many = pairs.expected_bits(pairs.DEFAULT_SEED, 1000)[16:]
    assert 400 < sum(many) < 600  # balanced enough to measure an error rate


def test_decode_finds_threshold_and_polarity():
    expected = pairs.expected_bits(7, 32)
    high = [1000 if b else 10 for b in expected]
    assert pairs.decode(high, expected).errors == 0
    low = [10 if b else 1000 for b in expected]  # a one may well be the smaller value
    d = pairs.decode(low, expected)
    assert d.errors == 0 and d.error_rate == 0.0
    flipped = list(high)
    for i in (16, 20, 30):
        flipped[i] = 1010 - flipped[i]
    assert pairs.decode(flipped, expected).errors == 3


def test_no_difference_is_an_error_rate_of_one_half():
    expected = pairs.expected_bits(7, 32)
    d = pairs.decode([5] * len(expected), expected)
    assert d.threshold is None and d.error_rate == 0.5
    with pytest.raises(ValueError):
        pairs.decode([5] * 3, expected)


def test_capacity_of_the_binary_symmetric_channel():
    assert pairs.capacity(2.0, 0.0) == 2.0
    assert pairs.capacity(2.0, 0.5) == 0.0
    assert math.isclose(pairs.capacity(1.0, 0.11), 1 - pairs.binary_entropy(0.11))
    assert math.isclose(pairs.binary_entropy(0.11), 0.4999, abs_tol=1e-3)
    assert math.isclose(pairs.capacity(1.0, 0.9), pairs.capacity(1.0, 0.1))  # the receiver would invert


# ---- the receiver's console -----------------------------------------------------------------

CREATED = ["domain 0 'sender' created: 256 KiB, image module 1, ssidref 0x70007",
           "domain 1 'receiver' created: 256 KiB, image module 1, ssidref 0x50005"]


def receiver_lines(values: list[int], done: bool = True) -> list[str]:
    lines = [*CREATED, f"(d1) covert: recv chan=cpu slots={len(values)} tsc0=1000 tsc1=2001000 ns0=5 ns1=6"]
    for i in range(0, len(values), 10):
        lines.append(f"(d1) covert: m {i} " + " ".join(str(v) for v in values[i:i + 10]))
    lines += ["(d0) covert: m 0 99"]  # the sender's lines are not the receiver's
    return lines + (["(d1) covert: done"] if done else [])


def test_console_of_a_receiver_is_decoded():
    expected = pairs.expected_bits(9, 24)
    run = pairs.parse_console(pairs.Run("cpu", "icount", ""), receiver_lines([7 * b for b in expected]),
                              "receiver", expected)
    assert run.ok and run.slots == 40 and run.decoded is not None and run.decoded.errors == 0
    assert run.rate() == pytest.approx(40 * 1e6 / 2_000_000)  # slots per million instructions
    assert run.capacity() == run.rate()


@pytest.mark.parametrize("lines, status", [
    (receiver_lines([1] * 40, done=False), "timeout"),
    ([*CREATED, "(d1) covert: timeout: chan=cpu: no edge from the sender in 24 slots"], "timeout"),
    ([*CREATED, "(d1) covert: error: late: system time 9 ns is past t0=5 ns"], "error"),
    (CREATED[:1], "error"),  # no receiver
    (receiver_lines([1] * 39), "error"),  # a slot short
])
def test_a_receiver_that_did_not_finish_is_not_a_result(lines, status):
    run = pairs.parse_console(pairs.Run("cpu", "icount", ""), lines, "receiver", pairs.expected_bits(9, 24))
    assert run.status == status and not run.ok and run.rate() is None and run.capacity() is None


def test_every_pair_has_a_scenario_and_an_inventory_entry():
    for pair in pairs.PAIRS:
        entry = inventory.entry(pair.name)
        assert entry.pair, f"{pair.name}: the inventory does not say it is measured"
        scen = scenario.load(pairs.covert_dir(ROOT) / pair.scenario)
        roles = {w for d in scen.domains for w in d.cmdline.split() if w.startswith("role=")}
        assert roles == {"role=send", "role=recv"}, pair.name
        assert all(f"chan={pair.name}" in d.cmdline for d in scen.domains), pair.name
    measured = {e.id for e in inventory.ENTRIES if e.pair}
    assert measured == {p.name for p in pairs.PAIRS}
    assert len(pairs.PAIRS) >= 8
    assert {e.mitigation for e in inventory.ENTRIES} - {None} == {"mitigate=domid", "mitigate=pools",
                                                                   "sched=partition"}


def test_the_parameters_reach_both_ends():
    scen, receiver = pairs.pair_scenario(pairs.covert_dir(ROOT) / "exist.toml", seed=3, bits=8, t0_ms=70,
                                         slot_us=900, append="mitigate=domid", receiver_words="probe=scan")
    assert receiver == "receiver"
    by_name = {d.name: d.cmdline for d in scen.domains}
    assert by_name["sender"].endswith("seed=3 n=8 t0=70 slot=900")
    assert "probe=2" not in by_name["receiver"] and by_name["receiver"].endswith("probe=scan")
    assert scen.hypervisor.cmdline == "mitigate=domid"


# ---- noninterference ------------------------------------------------------------------------


def view(*lines: str) -> list[str]:
    return [f"out: {line}" for line in lines]


def test_the_low_view_is_what_low_saw():
    console = ["domain 0 'hi' created: 256 KiB, image module 1, ssidref 0x20002",
               "domain 1 'lo' created: 256 KiB, image module 1, ssidref 0x30003",
               "(d0) the high domain's own line", "(d1) ni: step=0 tsc=5", "hc: d1 nr=29 op=0 ret=0",
               "hc: d0 nr=29 op=0 ret=0", "MAC deny hook=privileged subj=1:lo obj=0:hi op=read-state",
               "domain 1 'lo' stopped: poweroff", "domain 1 'other' created: ...", "(d1) not lo's"]
    got, low_id = ni.low_view(console, "lo")
    assert low_id == 1
    assert got == ["out: ni: step=0 tsc=5", "hc: nr=29 op=0 ret=0", "end: stopped: poweroff"]


def test_time_readings_are_masked_and_named():
    assert ni.mask_time("ni: step=3 tsc=99 stolen_ns=4 info=-1") == "ni: step=3 tsc=* stolen_ns=* info=-1"
    assert ni.mask_time("hc: nr=15 op=123456 ret=0") == "hc: nr=15 op=* ret=0"
    assert ni.mask_time("hc: nr=36 op=1 ret=0 out=2") == "hc: nr=36 op=1 ret=0 out=2"
    assert ni.mask_time("hc: d1 nr=18 op=0 ret=104") == "hc: d1 nr=18 op=0 ret=*"
    big = ni.first_divergence(view("ni: step=0 tsc=100"), view("ni: step=0 tsc=900100"))
    assert big is not None and big.timing and big.channel == "cpu" and big.key == "tsc"
    small = ni.first_divergence(view("a", "ni: step=1 tsc=100"), view("a", "ni: step=1 tsc=109"))
    assert small is not None and small.index == 1 and small.channel == "tick"


@pytest.mark.parametrize("base, other, channel", [
    ("ni: step=0 child=2 create=0", "ni: step=0 child=3 create=0", "domid"),
    ("ni: create=0", "ni: create=-12", "frames"),
    ("ni: create=0", "ni: create=-28", "domtable"),
    ("ni: create=-1", "ni: create=0", "chwall"),
    ("ni: info=-1", "ni: info=-3", "exist"),
    ("ni: colour=red", "ni: colour=blue", "unknown"),
])
def test_functional_differences_are_named(base, other, channel):
    d = ni.first_divergence(view(base), view(other))
    assert d is not None and not d.timing and d.channel == channel


def test_hypercall_log_differences_are_named():
    d = ni.first_divergence(["hc: nr=36 op=1 ret=0 out=2"], ["hc: nr=36 op=1 ret=0 out=3"])
    assert d is not None and d.channel == "domid"
    d = ni.first_divergence(["hc: nr=36 op=1 ret=0 out=2"], ["hc: nr=36 op=1 ret=-12"])
    assert d is not None and d.channel == "frames"
    d = ni.first_divergence(["hc: nr=15 op=5000 ret=0"], ["hc: nr=15 op=9000000 ret=0"])
    assert d is not None and d.timing


def make_report(*views: list[str], control: list[str] | None = None) -> ni.Report:
    rep = ni.Report(Path("x.toml"), "hi", "lo", "")
    rep.runs = [ni.Run(i, "SUCCESS", v, None) for i, v in enumerate(views)]
    if control is not None:
        rep.runs.append(ni.Run(0, "SUCCESS", control, None, control=True))
    return ni.compare(rep)


def test_verdicts():
    a = view("ni: step=0 tsc=10 child=2", "ni: low done")
    assert make_report(a, list(a), control=list(a)).verdict == "HOLDS"
    timing = make_report(a, view("ni: step=0 tsc=999999 child=2", "ni: low done"))
    assert timing.verdict == "DIFFERS (timing only)" and timing.channels() == ["cpu"]
    both = make_report(a, view("ni: step=0 tsc=999999 child=3", "ni: low done"))
    assert both.verdict == "DIFFERS" and both.functional[0][1].key == "child"
    assert both.channels() == ["cpu", "domid"]
    shorter = make_report(a, a[:1])
    assert shorter.verdict == "DIFFERS" and shorter.divergences[0][1].other is None
    unreproducible = make_report(a, list(a), control=view("ni: step=0 tsc=11 child=2", "ni: low done"))
    assert unreproducible.verdict == "UNDECIDED" and "not reproducible" in unreproducible.problems[0]
    crashed = ni.Report(Path("x.toml"), "hi", "lo", "")
    crashed.runs = [ni.Run(0, "SUCCESS", a, None), ni.Run(1, "TIMEOUT", [], None, "timed out")]
    assert ni.compare(crashed).verdict == "UNDECIDED"


class FakeBoot:
    def __init__(self, lines: list[str]) -> None:
        self.lines, self.status = lines, "SUCCESS"

    def describe(self) -> str:
        return "success"


def boot_sequence(monkeypatch, tsc_values: list[int]) -> list[int]:
    """ni.run with QEMU replaced: boot k prints b-app's one step with tsc_values[k]."""
    from moat import paths, qemu

    booted: list[int] = []

    def fake_boot(*_args: object, **_kw: object) -> FakeBoot:
        tsc = tsc_values[len(booted)]
        booted.append(tsc)
        return FakeBoot(["domain 1 'b-app' created: label customer-b", f"(d1) ni: step=0 tsc={tsc} info=-1",
                         "domain 1 'b-app' stopped: exit 0"])

    monkeypatch.setattr(qemu, "boot", fake_boot)
    monkeypatch.setattr(paths, "require_built", lambda p: p)
    return booted


def test_an_unreproducible_control_boots_the_set_once_more(monkeypatch, tmp_path):
    # First attempt: the control (third boot) disagrees with its twin; the second attempt agrees.
    booted = boot_sequence(monkeypatch, [10, 20, 11, 10, 20, 10])
    rep = ni.run(pairs.covert_dir(ROOT) / "ni_demo.toml", ROOT, high="a-web", low="b-app", log_dir=tmp_path)
    assert len(booted) == 6 and rep.reproducible and rep.verdict == "DIFFERS (timing only)"
    assert len(rep.runs) == 3 and len(rep.retries) == 1 and "not reproducible" in rep.retries[0]
    assert rep.to_json()["retries"] == rep.retries


def test_a_control_that_disagrees_twice_is_undecided(monkeypatch, tmp_path):
    booted = boot_sequence(monkeypatch, [10, 20, 11, 10, 20, 12])
    rep = ni.run(pairs.covert_dir(ROOT) / "ni_demo.toml", ROOT, high="a-web", low="b-app", log_dir=tmp_path)
    assert len(booted) == 6 and not rep.reproducible and rep.verdict == "UNDECIDED"
    assert len(rep.retries) == 1 and any("not reproducible" in p for p in rep.problems)


def test_the_policy_note_says_whether_the_labels_may_share():
    demo = scenario.load(pairs.covert_dir(ROOT) / "ni_demo.toml")
    note = ni.label_note(demo, "a-web", "b-app")
    assert "customer-a" in note and "customer-b" in note and "share no STE type" in note


# ---- the inventory and the doc ----------------------------------------------------------------


def test_the_doc_lists_the_inventory():
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z-]+)` \|", text, re.M)
    assert rows == [e.id for e in inventory.ENTRIES], "docs/covert-channels.md's inventory table and " \
        "moat.covert.inventory must list the same ids in the same order"
    for e in inventory.ENTRIES:
        assert e.status in inventory.STATUSES
    for pair in pairs.PAIRS:
        assert f"`{pair.name}`" in text
