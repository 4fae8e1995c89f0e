# SPDX-License-Identifier: MIT
"""Firmware the hypervisor meets less often than QEMU's defaults, in the real boot path: a MADT
with a CPU beyond the xAPIC's reach, a local APIC address override or one stray byte past its last
entry (the self-test build's `acpi_tamper`), more RAM than the frame table covers, and a CPU that
states CPUID leaf 15h without a TSC ratio."""

from __future__ import annotations

import re

from moat.pytest_plugin import Booter, assert_status, assert_xtf, log_tail

from ..domains.conftest import scenario_path
from .console import FRAME, FRAMES, TIMER, memory_map, one, whole_available_frames

ONLINE = re.compile(r"^cpus: (\d+) online$")
MADT = re.compile(r"^acpi: MADT at 0x[0-9a-f]+ \((?:RSDT|XSDT) at 0x[0-9a-f]+, RSDP revision \d+ at "
                  r"0x[0-9a-f]+\): (\d+) CPUs, apic ids([ \d]+)$")
ACPI_REFUSED = re.compile(r"^acpi: (.*); starting the boot CPU only$")
# QEMU's MADT (SeaBIOS, pc machine): 44 bytes of header and fixed fields, then one 8-byte local
# APIC entry per CPU (type, length, processor uid, APIC id, flags), then the I/O APIC's 12 bytes.
FIRST_ENTRY = 44
LIMIT = 64 << 30  # MAX_PHYS_MEMORY: the frame table's reach


def online(console: str) -> int:
    return int(one(console, ONLINE).group(1))


def test_a_cpu_beyond_xapic_ids_is_counted_and_not_started(boot: Booter) -> None:
    """CPU 1's APIC id 1 xor 0xfe = 255 (the broadcast id, over the xAPIC's 254): the others start,
    that one is said, not started, and not refused as a duplicate."""
    result = boot(f"acpi_tamper=APIC:{FIRST_ENTRY + 8 + 3}:0xfe", selftest=True, smp=4)
    assert_status(result, "SUCCESS")
    madt = one(result.console, MADT)
    assert (int(madt.group(1)), madt.group(2).split()) == (3, ["0", "2", "3"]), log_tail(result)
    assert "acpi: 1 CPUs with APIC ids above 254 (x2APIC only): not started" in result.lines
    assert online(result.console) == 3


def test_a_local_apic_address_override_is_read_and_the_rest_goes_on(boot: Booter) -> None:
    """The I/O APIC entry after two CPUs' entries turned into a local APIC address override (type 1
    xor 4 = 5, 12 bytes: the same length): accepted, and the entries around it still read."""
    result = boot(f"acpi_tamper=APIC:{FIRST_ENTRY + 2 * 8}:4", selftest=True, smp=2)
    assert_status(result, "SUCCESS")
    assert not [line for line in result.lines if ACPI_REFUSED.match(line)], log_tail(result)
    madt = one(result.console, MADT)
    assert (int(madt.group(1)), madt.group(2).split()) == (2, ["0", "1"])
    assert online(result.console) == 2


def test_one_byte_past_the_last_madt_entry_is_refused(boot: Booter) -> None:
    """The MADT's length one more than its entries (the low bit of an even length set): a last
    entry of one byte, refused as running past the end, and the boot CPU goes on alone."""
    result = boot("acpi_tamper=APIC:4:1", selftest=True, smp=2)
    assert_status(result, "SUCCESS")
    refused = one(result.console, ACPI_REFUSED)
    assert re.fullmatch(r"MADT at 0x[0-9a-f]+ has an entry that runs past its end at offset \d+",
                        refused.group(1)), refused.group(0)
    assert online(result.console) == 1


def test_ram_beyond_the_frame_table_is_left_out_and_said(boot: Booter) -> None:
    """65 GiB of RAM (mapped without reserve: the host gives only the pages touched): the
    hypervisor says it uses the first 64 GiB, counts the frames above as reserved, and runs."""
    # MAP_NORESERVE (reserve=off): the host need not promise 65 GiB it does not have.
    backend = ["-object", "memory-backend-ram,id=ram0,size=65G,reserve=off", "-machine", "memory-backend=ram0"]
    result = boot(scenario_file=scenario_path("hello"), memory="65G", timeout=120, extra_args=backend)
    assert_xtf(result, "SUCCESS")
    assert "moat: only the first 65536 MiB of memory are used" in result.lines, log_tail(result)
    total, free, used, reserved = map(int, one(result.console, FRAMES).groups())
    ranges = memory_map(result.console)
    assert total == whole_available_frames(ranges) and free + used + reserved == total
    # QEMU puts 3 GiB below the 4 GiB hole and the rest above it: 2 GiB end past 64 GiB.
    above = sum((end - max(start, LIMIT)) // FRAME for start, end, kind in ranges
                if kind == "available" and end > LIMIT)
    assert above == (2 << 30) // FRAME, ranges
    assert reserved >= above and free + used <= LIMIT // FRAME


def test_cpuid_leaf_15h_without_a_ratio_means_measuring(boot: Booter) -> None:
    """A CPU whose highest leaf is 16h but whose leaf 15h is all zeros (QEMU's TCG fills neither):
    no TSC rate from CPUID, so the PIT measures it, and the timer ticks."""
    result = boot("selftest=timer", selftest=True, extra_args=["-cpu", "max,level=22"])
    assert_xtf(result, "SUCCESS")
    hz, bus_khz, tsc_khz = map(int, one(result.console, TIMER).groups())
    assert hz > 0 and bus_khz > 0 and tsc_khz > 100_000, (hz, bus_khz, tsc_khz)
