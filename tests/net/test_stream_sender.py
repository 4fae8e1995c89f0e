# SPDX-License-Identifier: MIT
"""The go-back-N sender of images/lib/net_stream.c, built for the host and run by
tests/host/net_stream_check.c against a model receiver over a fake network on a fake clock: every
loss pattern is scripted, so the interleavings that a loaded machine produces only now and then
(the switch dropping frames for a full ring, acknowledgements arriving after the timeout, a FINACK
arriving during the next stream, two streams at once) happen on every run. Every datagram the
sender sends, duplicates included, must carry the stream's bytes at its own position."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from moat.pytest_plugin import host_program

from . import netlog
from .test_frames import stream

ROOT = Path(__file__).resolve().parents[2]
WENT_BACK = re.compile(r"stream to 10\.0\.0\.1: went back (\d+) times")


@pytest.fixture(scope="module")
def net_stream_check() -> Path:
    """build/host/net_stream_check: tests/host/net_stream_check.c with images/lib/net_stream.c as
    guests build it (-O2, freestanding), which `moat build` makes (tests/host/SConscript)."""
    return host_program("net_stream_check")


def check(exe: Path, runs: str) -> None:
    r = subprocess.run([str(exe), runs], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_every_datagram_carries_its_own_bytes_whatever_the_network_loses(net_stream_check: Path) -> None:
    """Acknowledgements lost until the sender goes back (the sender then hears, while it sends the
    window again, that the receiver has it all: it must go on with the first datagram it never
    sent, with that datagram's bytes, after one timeout), and 200 seeds of random loss of data and
    acknowledgements. Before the fix, the first script sent datagram 24 with datagram 8's bytes
    (the generator's state a window back): both sides' checksums agreed, as in the failed CI run
    of test_isolation, and only the receiver's byte-by-byte comparison saw it."""
    check(net_stream_check, "go-back")


def test_a_slow_finack_does_not_end_the_next_stream(net_stream_check: Path) -> None:
    """Two streams on one struct net_stream (net_bench's warm-up and measured stream), every FINACK
    1.5 timeouts late: the sender sends the first FIN again, takes the first answer and starts the
    second stream, and the answer to the FIN sent again comes while the second stream is under
    way. It carries the first stream's id and must be ignored. Before the fix (any FINACK counted)
    the second stream ended after its first window, MISMATCH (the first stream's byte count)."""
    check(net_stream_check, "finack")


def test_two_streams_at_once_each_send_their_own_bytes(net_stream_check: Path) -> None:
    """Two senders, each with its own struct net_stream, stack, losses and datagram size, taking
    turns at every call into the stack (two vCPUs of one domain): 50 seeds. With the window's
    generator states (`at`) or the datagram buffer (`dgram`) static, as before, both streams of
    every seed sent datagrams with the other stream's bytes or states."""
    check(net_stream_check, "together")


def test_against_the_real_receiver_a_finack_counts_only_for_its_own_stream(net_stream_check: Path) -> None:
    """The sender against net_stream.c's own receiver (net_stream_serve, its handler and answers),
    the two ends taking turns. A second stream shorter than a window loses its datagram 0: the
    receiver, which still has the first stream, ignores the rest and answers the FIN (sent before
    any timeout) with the id and figures of the first stream's FIN; the sender must ignore that and
    go back. Also slow FINACKs, and 30 seeds of three streams each with random loss. Before the
    fix the first two ended the second stream early, MISMATCH; with the receiver taking the id of
    every FIN rather than of the FIN it took, the first fails the same way."""
    check(net_stream_check, "receiver")


def test_a_sender_that_goes_back_all_the_time_sends_every_byte_as_it_was(run_scenario):
    """The same in QEMU, where the interleavings come from the scheduler: a 300 us timeout makes
    the sender go back hundreds of times in a 4 MiB stream. The receiver checks every byte against
    the stream's generator (`all as expected`), and both checksums agree. On the old sender this
    failed on every run tried (one CPU and two), with equal checksums and MISMATCH."""
    log, tail = netlog.checked(run_scenario("net_stream_goback"))
    left, right = log.named("left"), log.named("right")
    assert stream(right, left)[0] == 4 << 20, tail
    back = [int(m[1]) for line in right.lines if (m := WENT_BACK.fullmatch(line))]
    assert len(back) == 1 and back[0] >= 50, tail  # the way the test is about (190 here, one CPU)
