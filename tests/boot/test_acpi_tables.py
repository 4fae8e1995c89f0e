# SPDX-License-Identifier: MIT
"""The hypervisor's ACPI reader (hv/arch/x86_64/acpi_tables.c), on the host, fed crafted tables.

tests/host/acpi_check.c runs the very C code the hypervisor runs over a sparse picture of
physical memory built here: an RSDP in the BIOS area (or the EBDA), an RSDT or XSDT, a MADT.
Good tables give the CPUs (the boot CPU first); each kind of damage gives its own refusal, and
random damage never reads outside the tables (the driver is built with AddressSanitizer).
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from moat.pytest_plugin import host_program

ROOT = Path(__file__).resolve().parents[2]
BIOS_AREA = 0xE0000
RSDP_PA = 0xF5A10
RSDT_PA = 0x7FE1000
XSDT_PA = 0x7FE2000
MADT_PA = 0x7FE3000
EBDA_PA = 0x9FC00
LAPIC = 0xFEE00000


@pytest.fixture(scope="session")
def acpi_check() -> Path:
    """build/host/acpi_check: tests/host/acpi_check.c + the hypervisor's acpi_tables.c, which `moat
    build` makes for the host with AddressSanitizer and UBSan where their runtime is installed
    (tests/host/SConscript; compiled here before, it cost each worker 0.5 s)."""
    return host_program("acpi_check")


def checksum_fix(table: bytearray, at: int) -> bytearray:
    table[at] = 0
    table[at] = (-sum(table)) & 0xFF
    return table


def sdt(signature: bytes, body: bytes) -> bytearray:
    """A system description table: the 36-byte header, then body; checksum made right."""
    length = 36 + len(body)
    header = struct.pack("<4sIBB6s8sI4sI", signature, length, 1, 0, b"MOAT  ", b"TESTTBL ", 1,
                         b"MOAT", 1)
    return checksum_fix(bytearray(header + body), 9)


def lapic_entry(apic_id: int, uid: int | None = None, enabled: bool = True,
                online_capable: bool = False) -> bytes:
    flags = (1 if enabled else 0) | (2 if online_capable else 0)
    return struct.pack("<BBBBI", 0, 8, apic_id if uid is None else uid, apic_id, flags)


def x2apic_entry(apic_id: int, uid: int, enabled: bool = True) -> bytes:
    return struct.pack("<BBHIII", 9, 16, 0, apic_id, 1 if enabled else 0, uid)


def ioapic_entry() -> bytes:
    return struct.pack("<BBBBII", 1, 12, 0, 0, 0xFEC00000, 0)


def madt(entries: list[bytes], lapic: int = LAPIC) -> bytearray:
    return sdt(b"APIC", struct.pack("<II", lapic, 1) + b"".join(entries))


def rsdp(rsdt: int, xsdt: int | None = None) -> bytearray:
    if xsdt is None:
        return checksum_fix(bytearray(struct.pack("<8sB6sBI", b"RSD PTR ", 0, b"MOAT  ", 0, rsdt)), 8)
    table = bytearray(struct.pack("<8sB6sBIIQB3s", b"RSD PTR ", 0, b"MOAT  ", 2, rsdt, 36, xsdt, 0,
                                  b"\0\0\0"))
    table[8] = 0
    table[8] = (-sum(table[:20])) & 0xFF  # the first 20 bytes, as in revision 0
    table[32] = 0
    table[32] = (-sum(table)) & 0xFF
    return table


@dataclass
class Memory:
    """Physical memory as regions; BIOS area always present (the RSDP search reads all of it)."""

    regions: dict[int, bytearray] = field(default_factory=dict)

    def put(self, pa: int, data: bytes | bytearray) -> None:
        for base, region in self.regions.items():
            if base <= pa and pa + len(data) <= base + len(region):
                region[pa - base:pa - base + len(data)] = data
                return
        self.regions[pa] = bytearray(data)

    def image(self) -> bytes:
        out = bytearray()
        for pa, data in sorted(self.regions.items()):
            out += struct.pack("<QQ", pa, len(data)) + data
        return bytes(out)


def machine(cpus: int = 4, *, madt_table: bytes | bytearray | None = None, root: str = "rsdt",
            ebda: bool = False) -> Memory:
    """A firmware picture with an RSDP, a root table and a MADT listing cpus CPUs."""
    mem = Memory()
    mem.put(0, bytes(0x500))  # the BIOS data area: its EBDA pointer at 0x40e
    mem.put(BIOS_AREA, bytes(0x20000))
    table = madt_table if madt_table is not None else madt([lapic_entry(i) for i in range(cpus)]
                                                           + [ioapic_entry()])
    mem.put(MADT_PA, table)
    mem.put(RSDT_PA, sdt(b"RSDT", struct.pack("<II", 0x7FE4000, MADT_PA)))
    mem.put(0x7FE4000, sdt(b"FACP", bytes(16)))
    if root == "xsdt":
        mem.put(XSDT_PA, sdt(b"XSDT", struct.pack("<QQ", 0x7FE4000, MADT_PA)))
    where = EBDA_PA + 0x40 if ebda else RSDP_PA
    if ebda:
        mem.put(EBDA_PA, bytes(0x400))
        mem.put(0x40E, struct.pack("<H", EBDA_PA >> 4))
    mem.put(where, rsdp(RSDT_PA, XSDT_PA if root == "xsdt" else None))
    return mem


def run(tool: Path, tmp_path: Path, memories: list[Memory], boot_apic: int | str = 0) -> list[dict[str, Any]]:
    files = []
    for i, mem in enumerate(memories):
        path = tmp_path / f"mem{i}.bin"
        path.write_bytes(mem.image())
        files.append(str(path))
    proc = subprocess.run([str(tool), str(boot_apic), *files], check=False, capture_output=True,
                          text=True)
    assert proc.returncode in (0, 1), proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(memories), proc.stdout + proc.stderr
    return results


def one(tool: Path, tmp_path: Path, mem: Memory, boot_apic: int | str = 0) -> dict[str, Any]:
    return run(tool, tmp_path, [mem], boot_apic)[0]


def refusal(result: dict[str, Any]) -> tuple[str, str]:
    assert not result["ok"], result
    return result["table"], result["what"]


# ---- good tables ----

def test_four_cpus_from_the_rsdt(acpi_check, tmp_path):
    r = one(acpi_check, tmp_path, machine(4))
    assert r["ok"] and not r["xsdt"] and r["revision"] == 0
    assert (r["rsdp"], r["root"], r["madt"], r["lapic"]) == (RSDP_PA, RSDT_PA, MADT_PA, LAPIC)
    assert r["cpus"] == [[0, 0], [1, 1], [2, 2], [3, 3]]
    assert (r["disabled"], r["unreachable"], r["over_limit"]) == (0, 0, 0)


def test_the_xsdt_is_preferred(acpi_check, tmp_path):
    mem = machine(2, root="xsdt")
    mem.put(RSDT_PA, b"JUNK")  # a broken RSDT: not even looked at
    r = one(acpi_check, tmp_path, mem)
    assert r["ok"] and r["xsdt"] and r["revision"] == 2 and r["root"] == XSDT_PA
    assert r["cpus"] == [[0, 0], [1, 1]]


def test_rsdp_in_the_ebda(acpi_check, tmp_path):
    r = one(acpi_check, tmp_path, machine(2, ebda=True))
    assert r["ok"] and r["rsdp"] == EBDA_PA + 0x40


def test_boot_cpu_comes_first_in_madt_order(acpi_check, tmp_path):
    table = madt([lapic_entry(i) for i in (4, 6, 2, 0)])
    r = one(acpi_check, tmp_path, machine(madt_table=table), boot_apic=2)
    assert r["ok"] and [c[0] for c in r["cpus"]] == [2, 4, 6, 0]


def test_disabled_x2apic_and_override(acpi_check, tmp_path):
    table = madt([lapic_entry(0), lapic_entry(1, enabled=False), lapic_entry(2, enabled=False, online_capable=True),
                  x2apic_entry(3, uid=30), x2apic_entry(300, uid=31), x2apic_entry(5, uid=32, enabled=False),
                  struct.pack("<BBHQ", 5, 12, 0, 0xFEE10000)])
    r = one(acpi_check, tmp_path, machine(madt_table=table))
    assert r["ok"] and r["cpus"] == [[0, 0], [3, 30]]
    assert (r["disabled"], r["unreachable"], r["lapic"]) == (3, 1, 0xFEE10000)


def test_more_cpus_than_the_limit(acpi_check, tmp_path):
    table = madt([lapic_entry(i, uid=i) for i in range(70)])
    r = one(acpi_check, tmp_path, machine(madt_table=table))
    assert r["ok"] and len(r["cpus"]) == 64 and r["over_limit"] == 6
    assert [c[0] for c in r["cpus"]] == list(range(64))


# ---- bad tables: each refused, saying which and why ----

def corrupt(mem: Memory, pa: int, offset: int, value: int, fix_checksum: bool = True) -> Memory:
    for base, region in mem.regions.items():
        if base == pa:
            region[offset] = value
            if fix_checksum:
                length = struct.unpack_from("<I", region, 4)[0]
                table = bytearray(region[:length])
                checksum_fix(table, 9)
                region[:length] = table
            return mem
    raise AssertionError(f"no region at {pa:#x}")


def damaged_madt(*entries: bytes, length: int | None = None) -> bytearray:
    table = madt([lapic_entry(0), *entries])
    if length is not None:
        table[4:8] = struct.pack("<I", length)
        table = table[:max(length, 36)] if length < len(table) else table
        checksum_fix(table, 9)
    return table


CASES: dict[str, tuple[Memory, tuple[str, str]]] = {}


def case(name: str, mem: Memory, table: str, what: str) -> None:
    CASES[name] = (mem, (table, what))


def _bad_rsdp_checksum() -> Memory:
    mem = machine(2)
    mem.regions[BIOS_AREA][RSDP_PA - BIOS_AREA + 8] ^= 0x55  # the 20 bytes no longer sum to 0
    return mem


def _bad_extended_checksum() -> Memory:
    mem = machine(2, root="xsdt")
    mem.regions[BIOS_AREA][RSDP_PA - BIOS_AREA + 32] ^= 0x55
    return mem


def _no_madt() -> Memory:
    mem = machine(2)
    mem.put(RSDT_PA, sdt(b"RSDT", struct.pack("<I", 0x7FE4000)))
    return mem


def _madt(table: bytes | bytearray) -> Memory:
    return machine(madt_table=table)


def _build_cases() -> None:
    mem = Memory()
    mem.put(0, bytes(0x500))
    mem.put(BIOS_AREA, bytes(0x20000))
    case("no_rsdp", mem, "RSDP", "is missing (the firmware provides no ACPI tables)")
    case("rsdp_checksum", _bad_rsdp_checksum(), "RSDP", "has a wrong checksum")
    case("rsdp_extended_checksum", _bad_extended_checksum(), "RSDP", "has a wrong extended checksum")
    case("rsdt_signature", corrupt(machine(2), RSDT_PA, 0, ord("X")), "RSDT", "has another signature")
    case("rsdt_checksum", corrupt(machine(2), RSDT_PA, 9, 0x42, fix_checksum=False), "RSDT", "has a wrong checksum")
    case("rsdt_short", corrupt(machine(2), RSDT_PA, 4, 20), "RSDT", "has an implausible length")
    case("rsdt_partial_entry", corrupt(machine(2), RSDT_PA, 4, 43), "RSDT",
         "has a partial entry at its end, length")
    unreadable = machine(2)
    unreadable.put(RSDT_PA, sdt(b"RSDT", struct.pack("<I", 0x40000000)))
    case("rsdt_points_nowhere", unreadable, "RSDT", "lists no MADT (APIC table)")
    case("no_madt", _no_madt(), "RSDT", "lists no MADT (APIC table)")
    case("madt_checksum", corrupt(machine(2), MADT_PA, 9, 0x42, fix_checksum=False), "MADT", "has a wrong checksum")
    case("madt_too_long", corrupt(machine(2), MADT_PA, 5, 0x10), "MADT", "cannot be read at length")
    case("madt_too_short", _madt(damaged_madt(length=40)), "MADT", "is too short for its fixed fields, length")
    case("entry_length_zero", _madt(damaged_madt(b"\x00\x00")), "MADT", "has an entry of length < 2 at offset")
    case("entry_past_end", _madt(damaged_madt(b"\x01\x20abcd")), "MADT",
         "has an entry that runs past its end at offset")
    case("entry_one_byte", _madt(damaged_madt(b"\x00")), "MADT", "has an entry that runs past its end at offset")
    case("lapic_entry_length", _madt(damaged_madt(b"\x00\x07\x01\x01\x01\x00\x00")), "MADT",
         "has a local APIC entry not 8 bytes long at offset")
    case("x2apic_entry_length", _madt(damaged_madt(x2apic_entry(3, 3)[:15].replace(b"\x10", b"\x0f", 1))),
         "MADT", "has a local x2APIC entry not 16 bytes long at offset")
    case("override_length", _madt(damaged_madt(b"\x05\x0a" + bytes(8))), "MADT",
         "has a local APIC address override not 12 bytes long at offset")
    case("duplicate_apic_id", _madt(damaged_madt(lapic_entry(1), lapic_entry(1, uid=9))), "MADT",
         "lists twice the APIC id")
    case("boot_cpu_missing", _madt(madt([lapic_entry(1), lapic_entry(2)])), "MADT",
         "does not list the boot CPU, APIC id")


_build_cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_tables_are_refused(acpi_check, tmp_path, name):
    mem, expected = CASES[name]
    assert refusal(one(acpi_check, tmp_path, mem)) == expected


def test_refusals_name_the_table_address_and_value(acpi_check, tmp_path):
    r = one(acpi_check, tmp_path, CASES["entry_length_zero"][0])
    assert (r["pa"], r["value"]) == (MADT_PA, 44 + 8)
    r = one(acpi_check, tmp_path, CASES["duplicate_apic_id"][0])
    assert r["value"] == 1
    r = one(acpi_check, tmp_path, CASES["no_rsdp"][0])
    assert (r["pa"], r["value"]) == (0, None)


def test_random_damage_is_refused_or_read_safely(acpi_check, tmp_path):
    """Byte flips anywhere in the MADT (checksum made right, so the parser reads the rest)."""
    rng = random.Random(11)
    base = madt([lapic_entry(i) for i in range(6)] + [ioapic_entry(), x2apic_entry(7, 7)])
    memories = []
    for _ in range(400):
        table = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            table[rng.randrange(len(table))] = rng.randrange(256)
        checksum_fix(table, 9)
        memories.append(machine(madt_table=table))
    results = run(acpi_check, tmp_path, memories)
    accepted = [r for r in results if r["ok"]]
    refused = [r for r in results if not r["ok"]]
    assert accepted and refused  # both kinds happen, and neither crashes
    for r in accepted:
        ids = [c[0] for c in r["cpus"]]
        assert ids[0] == 0 and len(set(ids)) == len(ids) and all(i <= 254 for i in ids)


# ---- any table by its signature (acpi_find_table: the firmware's TPM2 table, measure_fwlog.c) ----

TPM2_PA = 0x7FE5000


def with_tpm2(root: str = "rsdt", *, listed: bool = True) -> tuple[Memory, bytearray]:
    """machine() with a TPM2 table (revision 4: LAML at 64, LASA at 68) listed after the MADT."""
    mem = machine(2, root=root)
    table = sdt(b"TPM2", struct.pack("<HHQIIIIIQ", 0, 0, 0, 7, 0, 0, 0, 0x10000, 0x7F00000))
    mem.put(TPM2_PA, table)
    if listed:
        mem.put(RSDT_PA, sdt(b"RSDT", struct.pack("<III", 0x7FE4000, MADT_PA, TPM2_PA)))
        mem.put(XSDT_PA, sdt(b"XSDT", struct.pack("<QQQ", 0x7FE4000, MADT_PA, TPM2_PA)))
    return mem, table


@pytest.mark.parametrize("root", ["rsdt", "xsdt"])
def test_a_table_is_found_by_its_signature(acpi_check, tmp_path, root):
    mem, table = with_tpm2(root)
    r = one(acpi_check, tmp_path, mem, "table=TPM2")
    assert r == {"ok": True, "len": len(table), "hex": table.hex()}
    assert one(acpi_check, tmp_path, mem, "table=APIC")["ok"]


def test_a_table_not_listed_is_missing(acpi_check, tmp_path):
    mem, _ = with_tpm2(listed=False)  # in memory, but the root table does not name it
    assert refusal(one(acpi_check, tmp_path, mem, "table=TPM2")) == ("RSDT", "lists no such table")


def test_a_found_table_is_checked(acpi_check, tmp_path):
    mem, _ = with_tpm2()
    corrupt(mem, TPM2_PA, 64, 0x55, fix_checksum=False)
    assert refusal(one(acpi_check, tmp_path, mem, "table=TPM2")) == ("TPM2", "has a wrong checksum")
    mem, _ = with_tpm2()
    corrupt(mem, TPM2_PA, 4, 1, fix_checksum=False)  # a length shorter than the header
    assert refusal(one(acpi_check, tmp_path, mem, "table=TPM2")) == ("TPM2", "has an implausible length")
    mem, _ = with_tpm2()
    corrupt(mem, TPM2_PA, 4, 200, fix_checksum=False)  # longer than the bytes there
    assert refusal(one(acpi_check, tmp_path, mem, "table=TPM2")) == ("TPM2", "cannot be read at length")


def test_a_bad_root_refuses_every_table(acpi_check, tmp_path):
    mem, _ = with_tpm2()
    corrupt(mem, RSDT_PA, 40, 0x01, fix_checksum=False)
    assert refusal(one(acpi_check, tmp_path, mem, "table=TPM2")) == ("RSDT", "has a wrong checksum")
