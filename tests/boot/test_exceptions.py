# SPDX-License-Identifier: MIT
"""The exception path: the self-test build raises each fault on purpose; the dump names it."""

from __future__ import annotations

import pytest

from moat import paths
from moat.pytest_plugin import assert_status, log_tail
from moat.symbolize import SymbolTable

from .console import EXCEPTION, RIP, one

FAULTS = {"de": (0, "DE"), "ud": (6, "UD"), "gp": (13, "GP"), "pf": (14, "PF"), "df": (8, "DF")}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_reported(boot, moat_root, fault):
    vector, mnemonic = FAULTS[fault]
    result = boot(f"selftest=fault:{fault}", selftest=True)
    assert_status(result, "FAILURE")
    console = result.console
    assert "*** fatal exception: system stopped" in result.lines, log_tail(result)
    exc = one(console, EXCEPTION)
    assert (int(exc.group(1)), exc.group(2)) == (vector, mnemonic), exc.group(0)
    regs = one(console, RIP)
    assert "backtrace:" in result.lines
    for reg in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8 ", "r15"):
        assert f"{reg}=0x" in console, f"register {reg.strip()} missing from the dump"
    if fault == "pf":
        assert int(regs.group(4), 16) == 0x1000, "cr2 should hold the faulting address"
    if fault == "df":
        # A double fault's rip may be anywhere in the self-test's code; vector and cr2/err suffice.
        return
    elf = paths.hv_image("moat-selftest", elf=True, root=moat_root)
    where = SymbolTable.from_elf(elf).lookup(int(regs.group(1), 16))
    assert where is not None, f"rip {regs.group(1)} is not in any function of {elf.name}"
    assert "selftest_fault" in where[0], f"rip symbolizes to {where[0]}+{where[1]:#x}"


@pytest.mark.parametrize("fault,kind", [
    ("pf", "not-present page write in supervisor mode"),
    ("pf-read", "not-present page read in supervisor mode"),
    ("pf-text", "protection violation write in supervisor mode"),
    ("pf-fetch", "protection violation instruction fetch in supervisor mode"),
])
def test_a_page_fault_says_what_access_failed_and_why(boot, fault, kind):
    """The error code decoded: not present or a protection violation (W^X: the hypervisor's code
    is not writable, its data not executable), and read, write or instruction fetch."""
    result = boot(f"selftest=fault:{fault}", selftest=True)
    assert_status(result, "FAILURE")
    exc = one(result.console, EXCEPTION)
    assert (int(exc.group(1)), exc.group(2)) == (14, "PF"), exc.group(0)
    assert f"page fault: {kind}" in result.lines, log_tail(result)
    assert "*** fatal exception: system stopped" in result.lines


def test_an_exception_while_reporting_one_stops_at_once(boot):
    """A fault inside the report (here: the report marked as under way, then #UD) prints one line
    and stops, rather than reporting into a loop."""
    result = boot("selftest=fault:nested", selftest=True)
    assert_status(result, "FAILURE")
    assert "*** EXCEPTION 6 while reporting an exception: system stopped" in result.lines, log_tail(result)
    assert not [line for line in result.lines if line.startswith("*** EXCEPTION 6 #UD")]


def test_a_deep_backtrace_stops_at_24_frames(boot, moat_root):
    """40 nested calls, then #UD: the rip and 24 return addresses, all in the recursing function
    (the walk is bounded, so a corrupt chain of frames cannot keep the report going)."""
    result = boot("selftest=fault:deep", selftest=True)
    assert_status(result, "FAILURE")
    start = result.lines.index("backtrace:")
    end = result.lines.index("*** fatal exception: system stopped")
    frames = [int(line.strip(), 16) for line in result.lines[start + 1:end]]
    assert len(frames) == 25, result.lines[start:end]
    elf = paths.hv_image("moat-selftest", elf=True, root=moat_root)
    symbols = SymbolTable.from_elf(elf)
    names = {where[0] for addr in frames if (where := symbols.lookup(addr)) is not None}
    assert names == {"selftest_fault_deep_frame"}, names
