# SPDX-License-Identifier: MIT
"""A TPM that the firmware left unstarted (hv/core/tpm.c run(): on TPM_RC_INITIALIZE it sends
TPM2_Startup, checks its answer, then the command again). SeaBIOS, QEMU's default firmware, always
sends TPM2_Startup before the hypervisor runs; qboot (QEMU's minimal firmware, in Debian's
qemu-system-data beside SeaBIOS) boots the same multiboot image without touching the TPM. With a
fresh swtpm behind tpm-tis, the hypervisor's first PCR_Reset is answered TPM_RC_INITIALIZE.

ACPI is off for this boot: with the TPM's ACPI table (and its log area) qboot hands the loader an
empty memory map. The hypervisor then starts the boot CPU only (no MADT), which is all it needs.

What the real TPM says next: it refuses TPM2_Startup from locality 2 (TPM_RC_LOCALITY, 0x907; a
PC Client TPM takes Startup from locality 0 or 3 only), so the hypervisor reports that and boots
unmeasured, as with a TPM that refuses the PCR resets. If the hypervisor ever sends Startup from
locality 0, this boot becomes measured and the test must change with it."""

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
    # The first command met an unstarted TPM: Startup was sent (and refused for its locality),
    # not the PCR_Reset's own TPM_RC_INITIALIZE (0x100) reported as a failed command.
    assert "measure: TPM2_Startup failed: rc 0x907" in measure, result.tail()
    assert not [x for x in measure if x.startswith("measure: TPM command")], result.tail()
    assert "measure: the TPM refused to reset PCRs 20-22 from locality 2: boot not measured" in measure
    # No firmware event log: qboot measures nothing.
    assert not [x for x in measure if x.startswith("measure: firmware event log")], result.tail()
    done = [x for x in measure if x.startswith("measure: boot: ")]
    assert len(done) == 1 and " events logged, not extended, " in done[0], result.tail()
    # Unmeasured, but booted: no domains, so the hypervisor stops at once, successfully.
    assert result.status is qemu.Status.SUCCESS, result.tail()
