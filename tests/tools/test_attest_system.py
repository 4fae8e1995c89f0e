# SPDX-License-Identifier: MIT
"""moat.attest.system.System.wait_for_line: a line QEMU printed just before it exited is found."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from moat.attest.system import System


def test_a_last_line_still_in_the_pipe_when_qemu_has_exited_is_found() -> None:
    """The reader thread takes the pipe's last lines after the process is gone: waiting for a line
    must not give up because the process has exited while the reader still has lines to hand over
    (seen in CI: the agent's 'the verifier said bye' missed, though the log has it)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    system = System(link=None, process=process)  # type: ignore[arg-type]  # no agent: lines only

    def late_reader() -> None:
        time.sleep(0.3)
        system.lines.append("attest agent: the verifier said bye")

    reader = threading.Thread(target=late_reader, daemon=True)
    reader.start()
    system._readers.append(reader)
    assert system.wait_for_line(lambda line: "said bye" in line, timeout=10) == "attest agent: the verifier said bye"
    assert system.wait_for_line(lambda line: "never printed" in line, timeout=10) is None  # ends at once now
