# SPDX-License-Identifier: MIT
"""More than one CPU: the APs found in the MADT and started, each with its own state and tick,
answering IPIs; a CPU that does not start is named and the others go on; bad or missing ACPI
tables leave the boot CPU alone; --smp and [hypervisor] cpus reach QEMU."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moat import bench, qemu, scenario
from moat.errors import UserError
from moat.pytest_plugin import assert_status, assert_xtf, log_tail

from .console import one

ONLINE = re.compile(r"^cpus: (\d+) online$")
MADT = re.compile(r"^acpi: MADT at 0x[0-9a-f]+ \((RSDT|XSDT) at 0x[0-9a-f]+, RSDP revision \d+ at 0x[0-9a-f]+\): "
                  r"(\d+) CPUs, apic ids([ \d]+)$")
AP_TICKS = re.compile(r"^smp: cpu (\d+): (\d+) ticks while cpu 0 counted (\d+)$", re.MULTILINE)
LEFT_OUT = re.compile(r"^smp: cpu (\d+) \(apic id (\d+)\) (.*): left out$")
ACPI_REFUSED = re.compile(r"^acpi: (.*); starting the boot CPU only$")


def online(result: qemu.BootResult) -> int:
    return int(one(result.console, ONLINE).group(1))


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_cpus_online(boot, cpus):
    result = boot(smp=cpus)
    assert_status(result, "SUCCESS")
    madt = one(result.console, MADT)
    assert int(madt.group(2)) == cpus
    assert [int(x) for x in madt.group(3).split()] == list(range(cpus))
    assert online(result) == cpus, log_tail(result)
    assert not [line for line in result.lines if LEFT_OUT.match(line)]


@pytest.mark.parametrize("cpus,icount", [(2, False), (4, False), (4, True)], ids=["2", "4", "4-icount"])
def test_smp_selftest(boot, cpus, icount):
    """Per-CPU state distinct, same control registers, every AP ticking, IPIs and a spinlock.

    Without -icount the spinlock's hammer (each CPU takes it 500 times, a ticket lock: in strict
    turn) hands the lock over 2,000 times between host threads, each hand-over waiting for the host
    to run the next holder's thread: on a busy two-core host that took over the broadcast's 5 s
    deadline (once in 24 boots), the late CPUs were counted out and the count came up short. The
    deadline is 30 s here (`smp_call_ms=`, selftest build; the boot's own timeout is 60 s): the count
    must still be exact."""
    cmdline = "selftest=smp" if icount else "selftest=smp smp_call_ms=30000"
    result = boot(cmdline, selftest=True, smp=cpus, icount=icount)
    assert_xtf(result, "SUCCESS")
    assert online(result) == cpus
    assert f"smp: per-CPU state checked on {cpus} CPUs (GS base, GDT, TSS, stacks distinct; same " \
           f"CR0/CR4/EFER/XCR0)" in result.lines
    ticks = {int(m.group(1)): (int(m.group(2)), int(m.group(3))) for m in AP_TICKS.finditer(result.console)}
    assert sorted(ticks) == list(range(1, cpus))
    if icount:
        # Under -icount time is instructions: every AP's tick runs at exactly the boot CPU's rate.
        for cpu, (got, counted) in ticks.items():
            assert abs(got - counted) <= 2, (cpu, got, counted)
    assert f"smp: {cpus} CPUs answered IPIs; {cpus} CPUs took one spinlock {cpus * 500} times in all" \
        in result.lines


@pytest.mark.parametrize("value", ["0", "60001", "5s"])
def test_an_smp_call_ms_out_of_range_is_refused_and_the_default_kept(boot, value):
    """`smp_call_ms=` (selftest build) takes 1 to 60000: anything else is named and ignored, and the
    boot goes on with the 5 s of the default (no line saying the value was taken)."""
    result = boot(f"smp_call_ms={value}", selftest=True, smp=2, icount=True)
    assert_status(result, "SUCCESS")
    assert f"smp: smp_call_ms={value} not understood (1 to 60000)" in result.lines, log_tail(result)
    assert not any(line.startswith("selftest: smp_call_ms:") for line in result.lines)


@pytest.mark.parametrize("how,why", [("nosipi", "did not answer the startup IPIs"),
                                     ("hang", "started but did not come online in time")])
def test_a_cpu_that_does_not_start_is_named_and_the_others_go_on(boot, how, why):
    # Under -icount: the boot CPU waits ONLINE_WAIT_MS (2 s) for the left-out CPU halted, between
    # ticks, as do the others, so QEMU skips the wait (sleep=off) instead of sitting it out.
    result = boot(f"smp_sabotage=2:{how} selftest=smp", selftest=True, smp=4, icount=True)
    assert_xtf(result, "SUCCESS")  # the self-test ran on the three that came up
    [left] = [m for line in result.lines if (m := LEFT_OUT.match(line))]
    assert (int(left.group(1)), int(left.group(2)), left.group(3)) == (2, 2, why)
    assert online(result) == 3
    assert "smp: 3 of 4 CPUs online" in result.lines


def test_domains_run_when_an_ap_fails(boot, tmp_path):
    # Two domains, the second placed when CPU 0 already has one: the scheduler places it on a CPU
    # that came online (CPU 0), not on CPU 1, listed but left out, where it would never run.
    hello = Path(__file__).resolve().parents[1] / "scenarios" / "hello.toml"
    scen = tmp_path / "hello_smp.toml"
    scen.write_text(hello.read_text(encoding="utf-8").replace(
        "[[domain]]", '[hypervisor]\nbuild = "moat-selftest"\ncmdline = "smp_sabotage=1:nosipi"\n'
                      "cpus = 2\n\n[[domain]]", 1)
                    + '\n[[domain]]\nname = "second"\nimage = "hello"\nmemory = "1M"\n', encoding="utf-8")
    result = boot(scenario_file=scen, icount=True)  # the 2 s wait for CPU 1 skipped, as above
    assert_xtf(result, "SUCCESS")
    assert online(result) == 1
    assert any(LEFT_OUT.match(line) for line in result.lines)
    assert re.search(r"^domain 1 'second' created: .*, cpu 0$", result.console, re.M), log_tail(result)
    assert "moat: all domains stopped: 2 as expected, 0 not" in result.lines, log_tail(result)


def test_no_acpi_tables_means_the_boot_cpu_alone(boot):
    result = boot(smp=2, extra_args=["-machine", "acpi=off"])
    assert_status(result, "SUCCESS")
    refused = one(result.console, ACPI_REFUSED)
    assert refused.group(1) == "RSDP is missing (the firmware provides no ACPI tables)"
    assert online(result) == 1


@pytest.mark.parametrize("tamper,reason", [
    ("APIC:9:1", r"MADT at 0x[0-9a-f]+ has a wrong checksum"),
    ("APIC:45:8", r"MADT at 0x[0-9a-f]+ has an entry of length < 2 at offset 44"),
    ("APIC:47:1", r"MADT at 0x[0-9a-f]+ lists twice the APIC id 1"),
    ("RSDT:4:1", r"RSDT at 0x[0-9a-f]+ has a partial entry at its end, length \d+"),
    ("RSDT:0:1", r"RSDT at 0x[0-9a-f]+ has another signature"),
    ("RSDT:9:1", r"RSDT at 0x[0-9a-f]+ has a wrong checksum"),
    ("RSDT:6:0x20", r"RSDT at 0x[0-9a-f]+ has an implausible length \d{7}"),
    ("APIC:0:1", r"MADT at 0x[0-9a-f]+ has another signature"),
    ("APIC:44:1", r"MADT at 0x[0-9a-f]+ does not list the boot CPU, APIC id 0"),
    ("APIC:45:1", r"MADT at 0x[0-9a-f]+ has a local APIC entry not 8 bytes long at offset 44"),
    ("APIC:44:9", r"MADT at 0x[0-9a-f]+ has a local x2APIC entry not 16 bytes long at offset 44"),
    ("APIC:44:5", r"MADT at 0x[0-9a-f]+ has a local APIC address override not 12 bytes long at offset 44"),
    ("APIC:45:0x8f", r"MADT at 0x[0-9a-f]+ has an entry that runs past its end at offset 44"),
    # SeaBIOS lists the MADT second in the RSDT: its address + 2 GiB, beyond RAM (mapped on demand,
    # read as all ones), holds no table.
    ("RSDT:43:0x80", r"RSDT at 0x[0-9a-f]+ lists no MADT \(APIC table\)"),
])
def test_bad_tables_give_one_line_and_the_boot_cpu_alone(boot, tamper, reason):
    result = boot(f"acpi_tamper={tamper}", selftest=True, smp=4)
    assert_status(result, "SUCCESS")
    refused = one(result.console, ACPI_REFUSED)
    assert re.fullmatch(reason, refused.group(1)), refused.group(0)
    assert online(result) == 1
    assert not any(line.startswith("smp: ") and "started" in line for line in result.lines)


def test_a_cpu_the_madt_marks_disabled_is_not_started(boot):
    """CPU 1's entry with its enabled flag cleared (byte 56: the second entry's flags): the other
    three are listed in MADT order and start; the disabled one is counted and said."""
    result = boot("acpi_tamper=APIC:56:1", selftest=True, smp=4)
    assert_status(result, "SUCCESS")
    madt = one(result.console, MADT)
    assert (int(madt.group(2)), madt.group(3).split()) == (3, ["0", "2", "3"])
    assert "acpi: 1 CPUs listed as disabled (hot-plug slots): not started" in result.lines
    assert online(result) == 3
    assert not [line for line in result.lines if LEFT_OUT.match(line)]


def test_a_cpu_with_an_apic_id_above_254_is_counted_and_not_started(boot):
    """CPU 1's APIC id made 0xff (byte 55: the second entry's id, 1 xor 0xfe): an xAPIC cannot
    address it (0xff is the broadcast id), so it is said and left alone; the other three start."""
    result = boot("acpi_tamper=APIC:55:0xfe", selftest=True, smp=4)
    assert_status(result, "SUCCESS")
    madt = one(result.console, MADT)
    assert (int(madt.group(2)), madt.group(3).split()) == (3, ["0", "2", "3"])
    assert "acpi: 1 CPUs with APIC ids above 254 (x2APIC only): not started" in result.lines
    assert not any(line.startswith("acpi: ") and "disabled" in line for line in result.lines)
    assert online(result) == 3
    assert not [line for line in result.lines if LEFT_OUT.match(line)]


def test_a_sabotage_option_it_does_not_understand_is_named_and_ignored(boot):
    result = boot("smp_sabotage=2:explode", selftest=True, smp=2)
    assert_status(result, "SUCCESS")
    assert "smp: smp_sabotage=2:explode not understood (<cpu>:nosipi or <cpu>:hang)" in result.lines
    assert online(result) == 2


def test_ipi_bench_figures(boot):
    result = boot("bench=smp", smp=2, icount=True)
    assert_status(result, "SUCCESS")
    figures = {f.name: f for line in result.lines if (f := bench.parse_line(line)) is not None}
    assert set(figures) == {"ap_startup", "ipi_round_trip", "ipi_broadcast_round_trip"}
    trip = figures["ipi_round_trip"]
    assert trip.n == 200 and trip.unit == "instructions" and 0 < trip.min <= trip.max < 10_000


def test_ipi_bench_figures_in_real_time_come_sorted(boot):
    """Without -icount the 200 round trips differ (the host's timing), so the figures are only
    right if the samples were sorted: min <= median <= max for each, three CPUs answering."""
    result = boot("bench=smp", smp=3)
    assert_status(result, "SUCCESS")
    figures = {f.name: f for line in result.lines if (f := bench.parse_line(line)) is not None}
    assert set(figures) == {"ap_startup", "ipi_round_trip", "ipi_broadcast_round_trip"}
    for name in ("ipi_round_trip", "ipi_broadcast_round_trip"):
        f = figures[name]
        # (parse_line refuses a line whose median is not between min and max)
        assert f.n == 200 and 0 < f.min < f.max, (name, f)
    assert not any(line.startswith("bench: error") for line in result.lines)


def test_ipi_bench_needs_a_second_cpu(boot):
    result = boot("bench=smp", smp=1)
    assert any("bench: error: ipi_round_trip needs a second CPU" in line for line in result.lines)
    with pytest.raises(bench.BenchLineError):
        [bench.parse_line(line) for line in result.lines]


# ---- the tools: --smp and [hypervisor] cpus ----

def test_qemu_command_carries_smp():
    cmd = qemu.qemu_command(Path("k"), "", [], smp=4)
    assert cmd[cmd.index("-smp") + 1] == "4"
    assert "-smp" not in qemu.qemu_command(Path("k"), "", [])  # one CPU: the contract's line
    for bad in (0, 65, -1):
        with pytest.raises(UserError, match="1 to 64"):
            qemu.qemu_command(Path("k"), "", [], smp=bad)


def test_scenario_cpus_key(tmp_path):
    path = tmp_path / "s.toml"
    assert scenario.parse("[hypervisor]\ncpus = 4\n", path).hypervisor.cpus == 4
    assert scenario.parse("[hypervisor]\n", path).hypervisor.cpus is None
    for text, message in (("cpus = 0", "1 to 64"), ("cpus = 65", "1 to 64"), ('cpus = "2"', "must be a")):
        with pytest.raises(scenario.ScenarioError, match=re.escape(message)) as err:
            scenario.parse(f"[hypervisor]\n{text}\n", path)
        assert err.value.key == "hypervisor.cpus"


def test_scenario_cpus_reach_qemu(boot, tmp_path):
    scen = tmp_path / "four.toml"
    scen.write_text('[hypervisor]\nbuild = "moat"\ncpus = 4\n', encoding="utf-8")
    result = boot(scenario_file=scen)
    assert_status(result, "SUCCESS")
    assert online(result) == 4


def test_moat_run_smp(moat_root, moat_cli):
    # --no-build: what is tested is the option (the build before a run is tests/tools/test_building's).
    # In-process (moat_cli): the option reaching QEMU is the point, not the `moat` process's start-up.
    run = moat_cli("run", "--no-build", "--smp", "2", "--timeout", "60", cwd=moat_root)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "cpus: 2 online" in run.stdout.splitlines()
    bad = moat_cli("run", "--smp", "0", cwd=moat_root)
    assert bad.returncode != 0 and "1 to 64" in bad.stderr
