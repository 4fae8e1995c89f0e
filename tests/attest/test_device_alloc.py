# SPDX-License-Identifier: MIT
"""Every allocation of a boot that gives a domain the TPM may fail (the self-test build's
`failalloc=boot:K`, with swtpm behind QEMU's tpm-tis), the page table that maps the TPM's
register page included: the domain is not built (-ENOMEM), the next one is, and every frame
comes back by the stop."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from moat import qemu
from moat.attest import swtpm
from moat.pytest_plugin import log_tail
from tests.domains import domlog

from .helpers import SCENARIOS, require_swtpm

pytestmark = pytest.mark.boot

REFUSED = re.compile(r"^selftest: failalloc: allocation (\d+) \(use (\d+)\) refused, called from 0x[0-9a-f]+$")
COUNTED = re.compile(r"^selftest: failalloc: (\d+) allocations counted$")
NOT_CREATED = re.compile(r"^domain '(first|second)' not created: error (-\d+)$")
# The first domain (the TPM's holder) makes allocations 1-7 (its tables, its info pages, the
# leaf table of the TPM's page); 8 is the second's first; a K past them all is the control.
FIRST_DOMAIN = 7
# The firmware is not what this test checks: qboot (moat.qemu.QBOOT) costs a third of SeaBIOS's CPU
# per boot (0.1 s against 0.25 with SeaBIOS's TPM measurements) and leaves the TPM for the
# hypervisor to start (tests/boot/test_tpm_startup.py). With the TPM's ACPI table qboot hands over
# an empty memory map, so ACPI is off, as there: the hypervisor runs on its boot CPU alone, and
# the domains' allocations (FIRST_DOMAIN) are the same as under SeaBIOS on two CPUs.
FIRMWARE = ["-bios", str(qemu.QBOOT), "-machine", "acpi=off"] if qemu.QBOOT.is_file() else []


def boot_refusing(boot, tmp_path: Path, k: int):
    require_swtpm()
    policy = (SCENARIOS.parent / "policies" / "attest.toml").as_posix()
    path = tmp_path / "s.toml"
    path.write_text(f'policy = "{policy}"\n'
                    '[[domain]]\nname = "first"\nimage = "hello"\nmemory = "256K"\nlabel = "attest"\n'
                    'devices = ["tpm"]\nexpect = "any"\n'
                    '[[domain]]\nname = "second"\nimage = "hello"\nmemory = "256K"\nlabel = "attest"\n'
                    'expect = "any"\n')
    state = tmp_path / "tpm"
    state.mkdir()
    with tempfile.TemporaryDirectory(prefix="moat-tpmst-") as sock_dir, \
            swtpm.running(state, Path(sock_dir)) as tpm:
        return boot(f"failalloc=boot:{k}", scenario_file=path, selftest=True,
                    extra_args=[*FIRMWARE, *tpm.qemu_args()], timeout=120)


@pytest.mark.parametrize("k", [*range(1, FIRST_DOMAIN + 2), 1_000_000])
def test_a_refused_allocation_while_giving_the_tpm(boot, tmp_path, k):
    result = boot_refusing(boot, tmp_path, k)
    lines = result.lines
    refused = [m for line in lines if (m := REFUSED.match(line))]
    counted = [int(m.group(1)) for line in lines if (m := COUNTED.match(line))]
    assert len(counted) == 1, log_tail(result)
    not_built = {m.group(1): int(m.group(2)) for line in lines if (m := NOT_CREATED.match(line))}
    built = {name for name in ("first", "second")
             if any("hello from domain" in line and f"'{name}'" in line for line in lines)}
    if refused:
        assert int(refused[0].group(1)) == k
        assert (k <= FIRST_DOMAIN) == ("first" in not_built), log_tail(result)
        # One domain is not built, for want of memory; the other is built and runs.
        assert len(not_built) == 1 and list(not_built.values()) == [-12], log_tail(result)
        assert built == {"first", "second"} - set(not_built), log_tail(result)
    else:
        assert counted[0] < k and not not_built and built == {"first", "second"}, log_tail(result)
    log = domlog.parse(result.console)
    assert log.frames_boot and log.frames_stop and log.frames_stop[1] == log.frames_boot[1], log_tail(result)
    assert any(domlog.ALL_STOPPED.match(line) for line in lines), log_tail(result)
    assert not any("PANIC" in line or line.startswith("BUG") or "audit failed" in line for line in lines)
    assert any(line.endswith("; none in the hypervisor") for line in lines), log_tail(result)
