# SPDX-License-Identifier: MIT
"""The line protocol to the attestation agent (images/attest/attest_agent/main.c).

The agent's serial port (COM2) is a QEMU chardev that connects to a Unix socket we listen on.
Requests and responses are single lines; everything the agent sends is checked here before
anyone uses it: the keyword, the number of fields, hex that decodes, sizes within bounds. A
truncated, oversized or garbled answer is an AttestError naming the request, never a traceback.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from moat.attest import AttestError

MAX_LINE = 256 * 1024          # bytes of one response line
READY_TIMEOUT = 180.0          # from QEMU's start to the agent's READY (a loaded machine is slow)
REQUEST_TIMEOUT = 120.0        # one request (creating an RSA EK takes a while under TCG)
PROTOCOL = "moat-attest 1"


class AgentLink:
    """A listening socket for the agent's serial port, then one connection from QEMU."""

    def __init__(self, sock_dir: Path) -> None:
        self.path = sock_dir / "agent.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(1)
        self.conn: socket.socket | None = None
        self.buf = b""
        self.transcript: list[str] = []

    def qemu_args(self) -> list[str]:
        """COM2: the second -serial after moat's `-serial stdio`."""
        return ["-chardev", f"socket,id=attest,path={self.path}", "-serial", "chardev:attest"]

    def accept(self, timeout: float) -> None:
        self.server.settimeout(timeout)
        try:
            self.conn, _ = self.server.accept()
        except TimeoutError:
            raise AttestError(f"QEMU did not connect the agent's serial port within {timeout:g} s") from None
        self.conn.settimeout(1.0)

    def close(self) -> None:
        for s in (self.conn, self.server):
            if s is not None:
                s.close()

    def read_line(self, timeout: float, what: str) -> str:
        if self.conn is None:
            raise AttestError("the agent's serial port is not connected")
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise AttestError(f"agent: the answer to {what} is longer than {MAX_LINE} bytes (oversized line)")
            if time.monotonic() > deadline:
                raise AttestError(f"agent: no complete answer to {what} within {timeout:g} s"
                                  + (f" (got {len(self.buf)} bytes of a truncated line)" if self.buf else ""))
            try:
                chunk = self.conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise AttestError(f"agent: the serial line closed before the answer to {what}"
                                  + (" (truncated line)" if self.buf else ""))
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\n")
        if len(raw) > MAX_LINE:
            raise AttestError(f"agent: the answer to {what} is longer than {MAX_LINE} bytes (oversized line)")
        try:
            line = raw.decode("ascii").rstrip("\r")
        except UnicodeDecodeError:
            raise AttestError(f"agent: the answer to {what} is not ASCII text (garbage on the line)") from None
        self.transcript.append(f"< {line[:200]}")
        return line

    def send(self, line: str) -> None:
        if self.conn is None:
            raise AttestError("the agent's serial port is not connected")
        self.transcript.append(f"> {line[:200]}")
        self.conn.sendall(line.encode("ascii") + b"\n")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """The agent announces READY once it listens; firmware noise before it is skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AttestError(f"agent: not READY within {timeout:g} s")
            try:
                line = self.read_line(left, "the start")
            except AttestError as e:
                if "not ASCII" in str(e):
                    continue
                raise
            if line == f"READY {PROTOCOL}":
                return

    def request(self, line: str, keyword: str, fields: int, timeout: float = REQUEST_TIMEOUT) -> list[str]:
        """Send a request; the answer must be `keyword` and exactly `fields` more words."""
        what = line.split(" ", 1)[0]
        self.send(line)
        answer = self.read_line(timeout, what)
        words = answer.split(" ")
        if words[0] == "ERR":
            raise AttestError(f"agent: {what} failed: {' '.join(words[1:]) or 'no reason given'}")
        if words[0] != keyword or len(words) != fields + 1:
            shown = answer if len(answer) <= 60 else answer[:60] + "..."
            raise AttestError(f"agent: the answer to {what} is malformed: expected '{keyword}' and {fields} "
                              f"fields, got {shown!r}")
        return words[1:]


def unhex(word: str, what: str, max_bytes: int = MAX_LINE) -> bytes:
    if len(word) > 2 * max_bytes:
        raise AttestError(f"agent: {what} is longer than {max_bytes} bytes")
    try:
        return bytes.fromhex(word)
    except ValueError:
        raise AttestError(f"agent: {what} is not hex") from None
