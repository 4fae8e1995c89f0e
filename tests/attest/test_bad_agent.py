# SPDX-License-Identifier: MIT
"""Bad input from the agent's serial line: truncated, oversized, garbage, malformed answers and
structures. The verifier must refuse each with a clear message (AttestError), never a traceback.
No QEMU: a fake agent talks to the verifier's own AgentLink over a socket."""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moat.attest import AttestError, eventlog, tpm, verify
from moat.attest.agent import MAX_LINE, AgentLink


def _session(tmp_path: Path, answer: Callable[[socket.socket, str], None]) -> verify.Session:
    link = AgentLink(tmp_path)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(link.path))
    link.accept(5)

    def agent() -> None:
        f = client.makefile("r")
        for line in f:
            try:
                answer(client, line.rstrip("\n"))
            except OSError:
                return

    threading.Thread(target=agent, daemon=True).start()
    return verify.Session(link, [])


def _replies(table: dict[str, bytes], close_after: bool = False) -> Callable[[socket.socket, str], None]:
    def answer(sock: socket.socket, line: str) -> None:
        sock.sendall(table.get(line.split(" ")[0], b"ERR unknown\n"))
        if close_after:
            sock.shutdown(socket.SHUT_RDWR)
    return answer


@pytest.mark.parametrize(("reply", "close", "message"), [
    (b"OK moat-att", True, "the serial line closed before the answer to HELLO (truncated line)"),
    (b"x" * (MAX_LINE + 10), False, f"longer than {MAX_LINE} bytes (oversized line)"),
    (b"\xff\xfe\x00garbage\n", False, "is not ASCII text (garbage on the line)"),
    (b"OK moat-attest 1\n", False, "is malformed: expected 'OK' and 4 fields"),
    (b"HELLO\n", False, "is malformed: expected 'OK'"),
    (b"OK moat-attest 2 0 agent\n", False, "speaks moat-attest 2, not moat-attest 1"),
    (b"ERR the TPM is on fire\n", False, "HELLO failed: the TPM is on fire"),
])
def test_hello_answers(tmp_path: Path, reply: bytes, close: bool, message: str) -> None:
    s = _session(tmp_path, _replies({"HELLO": reply}, close))
    with pytest.raises(AttestError) as err:
        s.hello()
    assert message in str(err.value)


@pytest.mark.parametrize(("reply", "message"), [
    (b"EK zz 00\n", "the EK public area is not hex"),
    (b"EK 0001 00\n", "EK public area: not a valid TPM2B_PUBLIC"),
    (b"EK " + b"ab" * 5000 + b" 00\n", "the EK public area is longer than 4096 bytes"),
])
def test_ek_answers(tmp_path: Path, reply: bytes, message: str) -> None:
    s = _session(tmp_path, _replies({"EK": reply}))
    with pytest.raises(AttestError, match=message):
        s.enrol()


@pytest.mark.parametrize(("replies", "message"), [
    ([b"DATA 10 0 00112233\n", b"DATA 10 5 445566\n"], "inconsistent size or offset"),
    ([b"DATA 10 0 00112233\n", b"DATA 9 4 445566\n"], "a size of 9 bytes after 10"),
    ([b"DATA 10 0 00112233\n", b"DATA 10 4 \n"], "log ended at 4 of 10 bytes"),
    ([b"DATA 99999999 0 00\n"], "the hv log claims 99999999 bytes"),
    ([b"DATA ten 0 00\n"], "size or offset is not a number"),
])
def test_log_answers(tmp_path: Path, replies: list[bytes], message: str) -> None:
    queue = list(replies)

    def answer(sock: socket.socket, line: str) -> None:
        sock.sendall(queue.pop(0) if queue else b"ERR done\n")

    s = _session(tmp_path, answer)
    with pytest.raises(AttestError, match=message):
        s.log("hv")


def test_a_garbage_quote(tmp_path: Path) -> None:
    s = _session(tmp_path, _replies({"QUOTE": b"QUOTE 0005ff 00 " + b"00" * 32 * 11 + b"\n"}))
    from tpm2_pytss.types import TPM2B_PUBLIC

    template = struct.pack(">HHIHHHHHHHH", 0x0023, 0x000B, 0x00050472, 0, 0x0010, 0x0018, 0x000B, 3, 0x0010, 0, 0)
    ak, _ = TPM2B_PUBLIC.unmarshal(struct.pack(">H", len(template)) + template)
    with pytest.raises(AttestError, match=r"quote: not a valid TPM2B_ATTEST|quote: .* bytes after"):
        s.quote(ak)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_log_bytes_are_parsed_or_refused(data: bytes) -> None:
    """Garbage, and truncations of a real log, never raise anything but AttestError."""
    for blob in (data, eventlog.spec_id_header() + data):
        try:
            log = eventlog.parse(blob, "fuzz")
            for ev in log.events:
                with contextlib.suppress(AttestError):
                    eventlog.decode_moat(ev)
            log.replay(eventlog.QUOTED_PCRS)
        except AttestError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.binary(max_size=200))
def test_any_structure_bytes_are_parsed_or_refused(a: bytes, b: bytes) -> None:
    for call in (lambda: tpm.check_ak(a), lambda: tpm.check_ek(a, b, []),
                 lambda: tpm.check_quote(None, a, b, b"", b"", (0,))):  # type: ignore[arg-type]
        with contextlib.suppress(AttestError):
            call()


def test_truncations_of_a_real_log() -> None:
    log = eventlog.spec_id_header() + eventlog.record(20, eventlog.EV_EVENT_TAG,
                                                      eventlog.tagged(eventlog.TAG_CMDLINE, b"demo"))
    assert [e.pcr for e in eventlog.parse(log, "x").events] == [20]
    for n in range(len(log)):
        try:
            eventlog.parse(log[:n], "x")
        except AttestError as e:
            assert "x log:" in str(e)
    rnd = random.Random(3)
    for _ in range(200):
        b = bytearray(log)
        b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        try:
            for ev in eventlog.parse(bytes(b), "x").events:
                eventlog.decode_moat(ev)
        except AttestError:
            pass
