# SPDX-License-Identifier: MIT
"""A TPM that the firmware left unstarted (hv/core/tpm.c run(): on TPM_RC_INITIALIZE it sends
TPM2_Startup from locality 0, checks its answer, then the command again from locality 2). SeaBIOS,
QEMU's default firmware, always sends TPM2_Startup before the hypervisor runs; qboot (QEMU's
minimal firmware, in Debian's qemu-system-data beside SeaBIOS) boots the same multiboot image
without touching the TPM. With a fresh swtpm behind tpm-tis, the hypervisor's first PCR_Reset is
answered TPM_RC_INITIALIZE.

ACPI is off for this boot: with the TPM's ACPI table (and its log area) qboot hands the loader an
empty memory map. The hypervisor then starts the boot CPU only (no MADT), which is all it needs.

A PC Client TPM takes Startup from locality 0 or 3 only: sent from the hypervisor's locality 2 it
was refused (TPM_RC_LOCALITY, 0x907) and the boot went unmeasured. Sent from locality 0 the TPM
starts, the PCR resets from locality 2 succeed and the boot is measured into PCRs 20-21."""

from __future__ import annotations

import tempfile
from pathlib import Path

from moat import qemu
from moat.attest import swtpm
from moat.pytest_plugin import Booter, skip_or_fail
from tests.attest.helpers import require_swtpm

QBOOT = Path("/usr/share/qemu/qboot.rom")


def test_a_tpm_the_firmware_did_not_start(boot: Booter, tmp_path: Path) -> None:
    require_swtpm()
    if not QBOOT.is_file():
        skip_or_fail(f"{QBOOT} not found (apt-get install qemu-system-data)")
    state = tmp_path / "tpm"
    state.mkdir()
    # The control socket's path must be short (a Unix socket path): not under tmp_path.
    with tempfile.TemporaryDirectory(prefix="moat-tpmst-") as sock_dir, \
            swtpm.running(state, Path(sock_dir)) as tpm:
        result = boot(extra_args=["-bios", str(QBOOT), "-machine", "acpi=off", *tpm.qemu_args()], timeout=120)
    measure = [x for x in result.lines if x.startswith("measure: ")]
    # The first command met an unstarted TPM: Startup was sent from locality 0 and accepted, and
    # neither it nor the PCR_Reset's own TPM_RC_INITIALIZE (0x100) was reported as a failure.
    assert "measure: the firmware left the TPM unstarted: TPM2_Startup(CLEAR) sent from locality 0" in measure, \
        result.tail()
    assert not [x for x in measure if "failed" in x or "refused" in x or "not measured" in x], result.tail()
    # No firmware event log: qboot measures nothing.
    assert not [x for x in measure if x.startswith("measure: firmware event log")], result.tail()
    done = [x for x in measure if x.startswith("measure: boot: ")]
    assert len(done) == 1 and " events extended into PCRs 20-21, " in done[0], result.tail()
    # Measured and booted: no domains, so the hypervisor stops at once, successfully.
    assert result.status is qemu.Status.SUCCESS, result.tail()
