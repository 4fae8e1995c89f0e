# SPDX-License-Identifier: MIT
"""The TPM driver's error paths (hv/lib/tpm2.c, hv/lib/tpm_tis.c, hv/core/tpm.c), which measured
boot never takes with a TPM that works: the self-test `selftest=tpm` (hv/core/selftest_lib.c).

- TPM 2.0 marshalling: commands that do not fit their buffer (nothing is sent, never a truncated
  command), responses with a bad tag, a size that is not the response's, too short a header,
  fields read past the end, a TPM2B longer than what is left.
- With the real TPM (swtpm behind QEMU's tpm-tis): a command from a locality that is not active,
  a locality asked for while another holds the TPM (timeout), a seizure by locality 2 (the
  seized locality's command fails and it must ask again), a response too big for the buffer
  (refused, and the TPM answers the next command), an unknown command code (TPM_RC_COMMAND_CODE),
  and the hypervisor's own PCR_Reset of a PCR locality 2 may not reset (-EIO).
- Without a TPM: no locality, tpm_init finds nothing, the PCR commands answer -ENOSYS.
- A TIS that breaks the FIFO protocol, which a correct TPM (swtpm included) never does: a
  register page in RAM whose registers the test sets at each poll (never ready, no room, stops
  expecting early, expects more than the command, never valid, no response, a header of size 0
  or a huge one, data that cannot be read, seized at each step). Each case must end with its own
  result (timeout, protocol error, too big, seized), never with a response.

Each check prints `check failed: ...` and the boot ends `Test result: FAILURE` when a path does
not give its expected result."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from moat.attest import swtpm
from moat.pytest_plugin import Booter, assert_xtf
from tests.attest.helpers import require_swtpm

CHECKS = re.compile(r"^selftest: tpm: (.+): (\d+) checks$", re.M)


def _checks(console: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in CHECKS.finditer(console)}


def test_tpm_driver_error_paths_with_the_real_tpm(boot: Booter, tmp_path: Path) -> None:
    require_swtpm()
    state = tmp_path / "tpm"
    state.mkdir()
    # The control socket's path must be short (a Unix socket path): not under tmp_path.
    with tempfile.TemporaryDirectory(prefix="moat-tpmst-") as sock_dir, \
            swtpm.running(state, Path(sock_dir)) as tpm:
        result = boot("selftest=tpm", selftest=True, extra_args=tpm.qemu_args(), timeout=120)
    assert "check failed" not in result.console, result.tail()
    checks = _checks(result.console)
    # About 200 of them are the marshalling's sweeps over every capacity short of a command.
    assert checks.get("marshalling and a misbehaving TIS", 0) >= 250, result.tail()
    assert checks.get("the real TPM", 0) >= 20, result.tail()
    # The refused PCR_Reset shows the TPM's own code: TPM_RC_LOCALITY.
    assert "measure: TPM command failed: rc 0x907" in result.lines, result.tail()
    assert_xtf(result, "SUCCESS")


def test_tpm_driver_without_a_tpm(boot: Booter) -> None:
    result = boot("selftest=tpm", selftest=True, timeout=120)
    assert "check failed" not in result.console, result.tail()
    checks = _checks(result.console)
    assert checks.get("marshalling and a misbehaving TIS", 0) >= 250, result.tail()
    assert checks.get("no TPM", 0) == 3, result.tail()
    assert_xtf(result, "SUCCESS")
