# SPDX-License-Identifier: MIT
"""The hypervisor on CPUs other than QEMU's `max`: without NX, without SMEP/SMAP/UMIP or global
pages, without XSAVE or XSAVEOPT, from other vendors, and with CPUs the firmware lists but has not
plugged in. Each boots, says what it found, starts its APs and runs a domain.

Found by these tests: on a CPU without NX the hypervisor set the NX bit (reserved there) in the
local APIC's mapping and every guest page, and stopped with a reserved-bit page fault."""

from __future__ import annotations

import re

import pytest

from moat import qemu
from moat.pytest_plugin import Booter, assert_xtf, log_tail

from ..domains.conftest import scenario_path
from .console import one

CPU = re.compile(r"^cpu: nx=([01]) smep=([01]) smap=([01]) umip=([01]) pge=([01])$")
XSAVE = re.compile(r"^xsave: (fxsave|xsave|xsaveopt|xsaves), xcr0=0x([0-9a-f]+) \(([a-z0-9 ]+)\), "
                   r"area (\d+) bytes, mxcsr_mask=0x[0-9a-f]+$")
ONLINE = re.compile(r"^cpus: (\d+) online$")
WX = re.compile(r"^paging: w\+x pages=(\d+)$")
MADT = re.compile(r"^acpi: MADT at 0x[0-9a-f]+ \((?:RSDT|XSDT) at 0x[0-9a-f]+, RSDP revision \d+ at "
                  r"0x[0-9a-f]+\): (\d+) CPUs, apic ids([ \d]+)$")


def hello_on(boot: Booter, cpu: str, cmdline: str = "", smp: int = 2, qemu_smp: str = "") -> qemu.BootResult:
    """The hello domain on `smp` CPUs of model `cpu` (QEMU takes the last -cpu it is given);
    qemu_smp: QEMU's whole -smp option instead (the boot fixture's is then left out)."""
    extra = ["-cpu", cpu, *(["-smp", qemu_smp] if qemu_smp else [])]
    result = boot(cmdline, scenario_file=scenario_path("hello"), smp=1 if qemu_smp else smp,
                  extra_args=extra)
    assert_xtf(result, "SUCCESS")
    assert "(d0) hello from domain 0 'hello', 256 pages, cmdline 'greeting=hello'" in result.lines, \
        log_tail(result)
    assert int(one(result.console, ONLINE).group(1)) == smp, log_tail(result)
    return result


def features(result: qemu.BootResult) -> dict[str, bool]:
    values = one(result.console, CPU).groups()
    return dict(zip(("nx", "smep", "smap", "umip", "pge"), (v == "1" for v in values), strict=True))


def test_a_cpu_without_nx_boots_and_says_its_pages_are_executable(boot):
    """No NX: bit 63 of a page-table entry is reserved, so no entry may have it; the hypervisor's
    data and every guest page are then executable, which the W^X count reports honestly."""
    result = hello_on(boot, "max,-nx")
    assert features(result) == {"nx": False, "smep": True, "smap": True, "umip": True, "pge": True}
    assert int(one(result.console, WX).group(1)) > 0
    assert not [line for line in result.lines if line.startswith("*** EXCEPTION")]


def test_a_cpu_with_nx_has_no_writable_executable_page(boot):
    """The control for the test above: with NX no hypervisor page is both writable and executable."""
    result = hello_on(boot, "max", smp=1)
    assert features(result)["nx"]
    assert int(one(result.console, WX).group(1)) == 0


def test_an_old_cpu_without_smep_smap_umip_global_pages_or_xsave(boot):
    """qemu64 without PGE: none of the protections the hypervisor switches on when it can, and
    only FXSAVE for the guests' vector registers; the AP must match the boot CPU and does."""
    result = hello_on(boot, "qemu64,-pge")
    assert features(result) == {"nx": True, "smep": False, "smap": False, "umip": False, "pge": False}
    kind, xcr0, parts, size = one(result.console, XSAVE).groups()
    assert (kind, xcr0, parts, size) == ("fxsave", "0", "x87 sse", "512")


def test_xsave_without_xsaveopt_and_a_request_it_cannot_meet(boot):
    """A CPU with XSAVE but not XSAVEOPT: plain XSAVE is chosen, and `xsave=xsaveopt` is
    answered with the reason and the instruction used instead."""
    result = hello_on(boot, "max,-xsaveopt", cmdline="xsave=xsaveopt")
    kind, xcr0, parts, _ = one(result.console, XSAVE).groups()
    assert (kind, xcr0, parts) == ("xsave", "7", "x87 sse avx")
    assert "xsave: 'xsave=xsaveopt' is not available here; using xsave" in result.lines


@pytest.mark.parametrize("asked,got,said", [("xsaveopt", "xsaveopt", False), ("xsave", "xsave", False),
                                             ("xsaves", "xsaveopt", True)])
def test_a_request_the_cpu_can_meet_is_met_quietly(boot, asked, got, said):
    """A CPU with XSAVEOPT (max): `xsave=xsaveopt` and `xsave=xsave` are used as asked, with no
    complaint; `xsave=xsaves` (not a choice one can force, and TCG has no XSAVES) is answered with
    the instruction used instead."""
    result = hello_on(boot, "max", cmdline=f"xsave={asked}")
    kind, xcr0, parts, _ = one(result.console, XSAVE).groups()
    assert (kind, xcr0, parts) == (got, "7", "x87 sse avx")
    complaint = f"xsave: 'xsave={asked}' is not available here; using {got}"
    assert (complaint in result.lines) == said
    assert sum("is not available here" in line for line in result.lines) == int(said)


def test_a_cpu_without_avx_keeps_x87_and_sse_only(boot):
    result = hello_on(boot, "max,-avx", smp=1)
    kind, xcr0, parts, _ = one(result.console, XSAVE).groups()
    assert (kind, xcr0, parts) == ("xsaveopt", "3", "x87 sse")


@pytest.mark.parametrize("vendor", ["vendor=GenuineIntel,family=6", "vendor=GenuineIntel,family=15",
                                    "vendor=HygonGenuine,family=24", "vendor=HygonGenuine,family=23",
                                    "vendor=AuthenticAMD,family=6"],
                         ids=["intel-6", "intel-15", "hygon", "hygon-23", "amd-6"])
def test_aps_start_on_other_vendors(boot, vendor):
    """The INIT-to-SIPI delay is skipped only where the vendor's manuals allow it (Intel family 6,
    AMD from family 15h, Hygon from family 18h); elsewhere the boot CPU waits 10 ms. Either way
    the AP starts."""
    result = hello_on(boot, f"max,{vendor}")
    assert "smp: 1 APs started in" in result.console


def test_cpus_listed_but_not_plugged_in_are_not_started(boot):
    """-smp 2,maxcpus=4: the MADT lists four CPUs, two of them disabled (hot-pluggable); only
    the enabled ones are counted, started and online."""
    result = hello_on(boot, "max", smp=2, qemu_smp="2,maxcpus=4")
    count, ids = one(result.console, MADT).groups()
    assert (int(count), ids.split()) == (2, ["0", "1"])
    assert "acpi: 2 CPUs listed as disabled (hot-plug slots): not started" in result.lines
    assert not [line for line in result.lines if line.startswith("smp: cpu ")]


def test_every_listed_cpu_enabled_gives_no_disabled_line(boot):
    result = hello_on(boot, "max", smp=2)
    assert not [line for line in result.lines if "listed as disabled" in line]
