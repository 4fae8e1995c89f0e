# SPDX-License-Identifier: MIT
"""Each domain's extended CPU state (x87, SSE, AVX) is its own: never seen by another domain,
kept across switches and upcalls, clean at start, and nothing a guest does to it reaches the
hypervisor. The hypervisor itself touches vector registers only in its SHA-256 compressor (the
CPU's SHA extensions), which gives every one of them back."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from moat import paths
from moat.pytest_plugin import assert_xtf, log_tail
from moat.qemu import BootResult

from . import domlog
from .conftest import GUEST_TIMEOUT, scenario_path

XSAVE = re.compile(r"^xsave: (fxsave|xsave|xsaveopt|xsaves), xcr0=0x([0-9a-f]+) \(x87 sse[a-z0-9 ]*\), "
                   r"area (\d+) bytes, mxcsr_mask=0x([0-9a-f]+)$")
HELD = re.compile(r"^rounds=(\d+) bad=(\d+) upcalls=(\d+) in_hold=(\d+) yields=(\d+)$")
GUEST_XCR0 = re.compile(r"^xcr0=0x([0-9a-f]+) avx=([01]) area=(\d+) bytes$")


def xsave_line(console: str) -> re.Match[str]:
    [m] = [m for line in console.splitlines() if (m := XSAVE.match(line))]
    return m


def held(dom: domlog.Domain) -> tuple[int, ...]:
    [m] = [m for line in dom.lines if (m := HELD.match(line))]
    return tuple(map(int, m.groups()))


def assert_outlived(result: BootResult, log: domlog.Log, holder: str, *others: str) -> None:
    """The holder was still holding its patterns when the last of the others ended."""
    def stopped(name: str) -> int:
        return result.console.index(f"domain {log.named(name).domid} '{name}' stopped")
    assert stopped(holder) > max(stopped(name) for name in others), log_tail(result)


CPU_MODELS = {"qemu64": ("qemu64", "fxsave", "0"), "avx512": ("max,+avx512f", "xsaveopt", "e7")}


@pytest.mark.parametrize("variant", ["default", "xsave", "fxsave", "evtchn", "qemu64", "avx512"])
def test_two_domains_vector_registers_never_leak(boot, variant):
    """Distinct patterns in every register of two domains, thousands of switches and upcalls
    (evtchn: the upcalls go through the event-channel library's entry and dispatcher; qemu64: a
    CPU without XSAVE, so FXSAVE by necessity, not by request; avx512: the AVX-512 components in
    XCR0 and in the saved area, which the guests' patterns do not fill but must not upset)."""
    cmdline = "" if variant in ("default", "evtchn", *CPU_MODELS) else f"xsave={variant}"
    scenario = "xstate_evtchn" if variant == "evtchn" else "xstate_pair"
    extra = ["-cpu", CPU_MODELS[variant][0]] if variant in CPU_MODELS else []
    result = boot(cmdline, scenario_file=scenario_path(scenario), timeout=GUEST_TIMEOUT, extra_args=extra)
    assert_xtf(result, "SUCCESS")
    kind, xcr0, size, _ = xsave_line(result.console).groups()
    if variant in ("xsave", "fxsave"):
        assert kind == variant
    if variant == "avx512" and "doesn't support requested feature: CPUID.07H:EBX.avx512f" in result.stderr:
        # QEMU 7.2's TCG offered AVX-512's XSAVE components to a CPU that asked for them; QEMU 9
        # and later refuse the feature under TCG, so the CPU here has none to enable.
        assert (kind, xcr0) == ("xsaveopt", "7"), result.stderr
    elif variant in CPU_MODELS:
        assert (kind, xcr0) == CPU_MODELS[variant][1:]
    log = domlog.parse(result.console)
    for name in ("hold-a", "hold-b"):
        dom = log.named(name)
        rounds, bad, upcalls, in_hold, yields = held(dom)
        assert (rounds, bad) == (2000, 0), log_tail(result)
        assert in_hold >= 20 and yields >= 2000, (name, upcalls, in_hold, yields)
        [g] = [m for line in dom.lines if (m := GUEST_XCR0.match(line))]
        # What the guest reads with xgetbv is what the hypervisor set.
        assert int(g.group(1), 16) == (int(xcr0, 16) if kind != "fxsave" else 0)
        assert int(g.group(3)) >= (512 if kind == "fxsave" else int(size) - 64)
    assert (log.as_expected, log.not_expected) == (2, 0)


def test_a_fresh_domain_starts_with_clean_vector_state(boot):
    """A child in the slot (and memory) a child full of marker values just left starts clean: its
    extended state, and the general registers its first upcall frame shows (the syscall fast path
    leaves the rcx and r11 slots as they were: they must be this domain's, never the last one's)."""
    result = boot(scenario_file=scenario_path("xstate_fresh"), timeout=GUEST_TIMEOUT)
    assert_xtf(result, "SUCCESS")
    log = domlog.parse(result.console)
    parent, dirty, fresh = log.named("parent"), log.named("dirty"), log.named("fresh")
    assert dirty.outcome == "poweroff" and dirty.domid == fresh.domid  # the same slot, reused
    for dom in (parent, fresh):
        assert "the first instruction saw the initial state" in dom.lines, dom.lines
        assert dom.result == "SUCCESS"
    assert "no earlier domain's general registers in the first upcall frame" in fresh.lines, fresh.lines


@pytest.mark.parametrize("cpu", ["max", "max,-sha-ni"])
def test_a_hypercall_that_hashes_gives_every_vector_register_back(boot, cpu):
    """The create hypercall hashes the new domain's measured-launch event, with the CPU's SHA
    extensions where it has them (xmm0-xmm7 in the hypervisor) and with the portable rounds
    where not: either way the creator's registers, held across the call, come back as they were."""
    result = boot(scenario_file=scenario_path("xstate_hashed"), timeout=GUEST_TIMEOUT, extra_args=["-cpu", cpu])
    assert_xtf(result, "SUCCESS")
    assert f"cpu: sha256 {'portable' if '-sha-ni' in cpu else 'sha-ni'}" in result.lines, log_tail(result)
    hashed = domlog.parse(result.console).named("hashed")
    assert "3 creates hashed with every register held" in hashed.lines, hashed.lines


def test_hostile_extended_state_stays_with_its_guest(boot):
    result = boot(scenario_file=scenario_path("xstate_hostile"), timeout=GUEST_TIMEOUT)
    assert_xtf(result, "SUCCESS")
    log = domlog.parse(result.console)
    mxcsr = log.named("mxcsr")
    # Hardware faults on the reserved bits at once; QEMU's TCG takes them, and then the hypervisor
    # refuses to restore that state: either way the guest dies and nothing else notices.
    refused = f"domain {mxcsr.domid} 'mxcsr': its extended CPU state was refused: reserved MXCSR bits"
    assert (mxcsr.crash is not None and mxcsr.crash.vector == 13) or (
        refused in result.lines and mxcsr.reason == "bad extended CPU state"), log_tail(result)
    xsetbv = log.named("xsetbv")
    assert xsetbv.crash is not None and (xsetbv.crash.vector, xsetbv.crash.mnemonic) == (13, "GP")
    x87 = log.named("x87")
    assert x87.crash is not None and (x87.crash.vector, x87.crash.mnemonic) == (16, "MF")
    assert "waiting on the pending x87 exception" in x87.lines  # pending through 50 yields
    assert held(log.named("hold"))[1] == 0
    assert_outlived(result, log, "hold", "mxcsr", "xsetbv", "x87")
    assert (log.as_expected, log.not_expected) == (4, 0)


def test_unmasked_simd_exception_is_the_guests(boot):
    result = boot(scenario_file=scenario_path("xstate_simd"), timeout=GUEST_TIMEOUT)
    log = domlog.parse(result.console)
    assert held(log.named("hold"))[1] == 0, log_tail(result)
    assert_outlived(result, log, "hold", "simd")
    simd = log.named("simd")
    if simd.crash is None and any(line.startswith("Skip: no #XM") for line in simd.lines):
        pytest.skip("this CPU (QEMU's TCG) raises no SIMD floating-point exceptions")
    assert simd.crash is not None and (simd.crash.vector, simd.crash.mnemonic) == (19, "XM"), log_tail(result)


@pytest.mark.parametrize("tamper,why", [("mxcsr", "reserved MXCSR bits"),
                                        ("header", "the CPU refused the saved state"),
                                        ("header-fxsave", "reserved MXCSR bits")])
def test_a_refused_saved_state_kills_only_its_domain(boot, tamper, why):
    """A corrupted save area (a hypervisor bug, simulated) cannot fault the hypervisor's restore.
    header-fxsave: an FXSAVE area has no XSAVE header, so its MXCSR is corrupted instead.
    Under -icount: the holder must see some timer upcalls land inside its holds (min_upcalls=5;
    33 here), and in real time a host that stalls the CPU once left it only 4."""
    cmdline = f"xsave_tamper={tamper.removesuffix('-fxsave')}:0"
    if tamper.endswith("-fxsave"):
        cmdline += " xsave=fxsave"
    result = boot(cmdline, scenario_file=scenario_path("xstate_tamper"), timeout=GUEST_TIMEOUT, icount=True)
    assert_xtf(result, "SUCCESS")
    what = "XSTATE_BV" if tamper == "header" else "MXCSR"
    assert any(line.startswith("selftest: xsave_tamper: domain ") and line.endswith(f"'s saved {what} corrupted")
               for line in result.lines), result.lines[-12:]
    log = domlog.parse(result.console)
    victim = log.named("victim")
    assert f"domain {victim.domid} 'victim': its extended CPU state was refused: {why}" in result.lines
    assert (victim.outcome, victim.reason) == ("killed", "bad extended CPU state")
    assert held(log.named("hold"))[1] == 0
    assert_outlived(result, log, "hold", "victim")


# Register names and x87 mnemonics that would show the hypervisor using vector state.
_VECTOR_OPERAND = re.compile(r"%(?:[xyz]mm\d+|mm[0-7]|st(?:\(\d\))?|k[0-7])\b")
_ALLOWED = {"fxsave64", "fxrstor64", "xsave64", "xsaveopt64", "xsaves64", "xrstor64", "xrstors64",
            "xsetbv", "xgetbv"}


# The one function allowed to use vector registers: the SHA-256 compressor on the CPU's SHA
# extensions (hv/arch/x86_64/sha256_ni.S), which saves each one it uses and puts it back.
_VECTOR_USER = "sha256_ni_blocks"
_FUNCTION = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
_XMM = re.compile(r"%xmm(\d+)\b")
_SAVE = re.compile(r"^movdqa\s+%xmm(\d+),(?:0x[0-9a-f]+)?\(%rsp\)$")
_RESTORE = re.compile(r"^movdqa\s+(?:0x[0-9a-f]+)?\(%rsp\),%xmm(\d+)$")


@pytest.mark.parametrize("build", ["moat", "moat-selftest"])
def test_the_hypervisor_never_touches_vector_registers(moat_root, build):
    """Nothing in the hypervisor uses a vector register but the SHA compressor, and that saves
    every register it uses before its first other instruction on it and restores each before it
    returns (the boot test below checks the values themselves)."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump is missing (binutils)")
    elf = paths.hv_image(build, elf=True, root=moat_root)
    # .text: the 64-bit hypervisor (.boot holds the 32-bit multiboot entry, which uses none either).
    text = subprocess.run([objdump, "-d", "-j", ".text", "--no-show-raw-insn", str(elf)], check=True,
                          capture_output=True, text=True).stdout
    offenders, saves = [], set()
    function = ""
    used: list[tuple[str, set[int]]] = []  # the vector user's instructions, in order
    for line in text.splitlines():
        if m := _FUNCTION.match(line.strip()):
            function = m.group(1)
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[1].strip():
            continue
        insn = " ".join(parts[1].split())
        mnemonic = insn.split()[0]
        if function == _VECTOR_USER:
            used.append((insn, {int(r) for r in _XMM.findall(insn)}))
        elif mnemonic in _ALLOWED:
            saves.add(mnemonic)
        elif _VECTOR_OPERAND.search(insn) or (mnemonic.startswith("f") and not mnemonic.startswith("fxs")):
            offenders.append(f"{function}: {line.strip()}")
    assert not offenders, "\n".join(offenders[:20])
    assert {"xsaveopt64", "xrstor64", "fxrstor64"} <= saves  # the switch itself is there
    assert used, f"{_VECTOR_USER} is not in the image"
    assert not any(_VECTOR_OPERAND.search(i) and not _XMM.search(i) for i, _ in used)  # xmm only, no x87
    touched = set().union(*(regs for _, regs in used)) | {0}  # sha256rnds2 reads xmm0 implicitly
    saved: set[int] = set()
    for insn, regs in used:
        if m := _SAVE.match(insn):
            saved.add(int(m.group(1)))
        elif regs:
            assert regs <= saved, f"{insn}: used before it was saved"
    assert saved == touched
    ret = max(i for i, (insn, _) in enumerate(used) if insn.startswith("ret"))
    restored = {int(m.group(1)) for insn, _ in used[:ret] if (m := _RESTORE.match(insn))}
    last_restore = max(i for i, (insn, _) in enumerate(used[:ret]) if _RESTORE.match(insn))
    assert restored == touched
    assert not any(regs for _, regs in used[last_restore + 1:ret]), "a register changed after its restore"


def test_reserved_mxcsr_is_refused_when_a_yield_switches_it_in(boot):
    """tests/scenarios/xstate_mxcsr_yield.toml: the `mxcsr` guest loads reserved MXCSR bits (QEMU's
    TCG takes them) and yields to a domain that only yields back, so each switch into it is a
    yield's, the scheduler's plain switch. Its saved state must be refused by name there too:
    QEMU's XRSTOR would load it, and the guest would run on (it says so)."""
    result = boot(scenario_file=scenario_path("xstate_mxcsr_yield"), timeout=GUEST_TIMEOUT)
    mxcsr = domlog.parse(result.console).named("mxcsr")
    assert not any("still running" in line for line in mxcsr.lines), log_tail(result)
    refused = f"domain {mxcsr.domid} 'mxcsr': its extended CPU state was refused: reserved MXCSR bits"
    assert (mxcsr.crash is not None and mxcsr.crash.vector == 13) or (
        refused in result.lines and mxcsr.reason == "bad extended CPU state"), log_tail(result)
    assert "moat: all domains stopped: 2 as expected, 0 not" in result.lines, log_tail(result)
