# SPDX-License-Identifier: MIT
"""`moat run`: outputs checked first, QEMU workflow, listings, JSON, checks before boot, hints."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from moat import boot, console, paths, scenario

from .fakeqemu import install, printing
from .test_cli import InProcess, fake_root, in_process  # noqa: F401 -- fake_root and in_process are fixtures

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("log", ["/tmp", "/proc/x.log"])
def test_a_log_that_cannot_be_written_is_refused_first(fake_root: Path, log: str, in_process: InProcess):  # noqa: F811
    proc = in_process("run", "--log", log, root=fake_root)
    assert proc.returncode == 3 and f"--log {log}" in proc.stderr


def test_json_that_is_a_directory(fake_root: Path, tmp_path: Path, in_process: InProcess):  # noqa: F811
    proc = in_process("run", "--json", str(tmp_path), root=fake_root)
    assert proc.returncode == 3 and "is a directory" in proc.stderr


def test_dry_run_prints_the_command_and_passes_qemu_arguments(fake_root: Path, in_process: InProcess):  # noqa: F811
    proc = in_process("run", "--dry-run", "--gdb-port", "4321", "--", "-d", "int", "-D", "q.log", root=fake_root)
    assert proc.returncode == 0, proc.stderr
    cd, cmd = proc.stdout.strip().split(" && ")
    assert cd == f"cd {shlex.quote(str(fake_root))}"
    args = shlex.split(cmd)
    assert args[0] == "qemu-system-x86_64" and args[-4:] == ["-d", "int", "-D", "q.log"]
    assert args[args.index("-gdb") + 1] == "tcp::4321" and "-S" in args and "-s" not in args


def test_pass_through_and_gdb_port_reach_qemu(monkeypatch, fake_root: Path, tmp_path: Path, in_process: InProcess):  # noqa: F811
    args_file = tmp_path / "args"
    install(monkeypatch, tmp_path / "bin", printing(["moat: stop: success"], 1, args_file))
    proc = in_process("run", "--gdb-port", "4321", "--", "-trace", "x", root=fake_root)
    assert proc.returncode == 0, proc.stderr
    assert "target remote :4321" in proc.stderr
    args = args_file.read_text().splitlines()
    assert args[-2:] == ["-trace", "x"] and args[args.index("-gdb") + 1] == "tcp::4321"


def test_qemu_variable_chooses_the_program(monkeypatch, fake_root: Path, tmp_path: Path, in_process: InProcess):  # noqa: F811
    other = install(monkeypatch, tmp_path / "bin", printing(["from the other qemu", "moat: stop: success"], 1))
    renamed = other.with_name("my-qemu")
    other.rename(renamed)
    proc = in_process("run", root=fake_root, QEMU=str(renamed))
    assert proc.returncode == 0 and "from the other qemu" in proc.stdout
    proc = in_process("run", root=fake_root, QEMU="no-such-qemu")
    assert proc.returncode == 3 and "QEMU=no-such-qemu" in proc.stderr


def test_json_has_the_verdict_and_every_domain(monkeypatch, fake_root: Path, tmp_path: Path, in_process: InProcess):  # noqa: F811
    lines = ["domain 0 'a' created: 1024 KiB, image module 1, ssidref 0x20002",
             "domain 'b' not created: error -12",
             "domain 0 'a' stopped: poweroff",
             "moat: all domains stopped: 1 as expected, 0 not", "moat: stop: success"]
    install(monkeypatch, tmp_path / "bin", printing(lines, 1))
    out = tmp_path / "r" / "run.json"
    proc = in_process("run", "--json", str(out), root=fake_root)
    assert proc.returncode == 0, proc.stderr
    assert "'b' was not created: -12 is ENOMEM" in proc.stderr  # said in words as it happens
    data = json.loads(out.read_text())
    assert data["status"] == "SUCCESS" and data["exit_status"] == 0 and data["stop_line"] == "success"
    assert data["all_stopped"] == {"as_expected": 1, "not": 0}
    a, b = data["domains"]
    assert (a["name"], a["id"], a["end"], a["memory_kib"]) == ("a", 0, "poweroff", 1024)
    assert b["name"] == "b" and not b["created"] and b["error"].startswith("-12 ENOMEM")


def test_list_shows_the_scenarios(in_process: InProcess):  # noqa: F811
    proc = in_process("run", "--list", root=ROOT)
    assert proc.returncode == 0, proc.stderr
    listed = dict(line.split("  ", 1) for line in proc.stdout.splitlines())
    assert "tests/scenarios/hello.toml" in listed and "images/demo/demo.toml" in listed
    assert "smallest guest scenario" in listed["tests/scenarios/hello.toml"]


@pytest.mark.parametrize("text,what", [
    ('[policy]\nname = "p"\n', "is a security policy (TOML), not a scenario"),
    ('<?xml version="1.0"?>\n<SecurityPolicyDefinition/>\n', "is XML (a security policy?), not a scenario"),
])
def test_a_policy_given_as_scenario_says_what_it_is(fake_root: Path, tmp_path: Path, text: str, what: str,  # noqa: F811
                                                   in_process: InProcess):  # noqa: F811
    f = tmp_path / "p.toml"
    f.write_text(text)
    proc = in_process("run", str(f), root=fake_root)
    assert proc.returncode == 3 and what in proc.stderr and "moat policy check" in proc.stderr


def test_a_missing_image_lists_the_images(tmp_path: Path):
    (tmp_path / "images").mkdir()
    for name in ("hello", "timer"):
        (tmp_path / "images" / f"{name}.elf").write_bytes(b"")
    from moat import manifest

    scen = scenario.parse('[[domain]]\nimage = "helo"\n', tmp_path / "s.toml")
    text = manifest.missing_image(scen, "helo", tmp_path)
    assert "did you mean 'hello'?" in text and "hello, timer" in text and "moat new-test helo" in text
    assert "run ./moat build first" in manifest.missing_image(scen, "helo", tmp_path / "nothing")


def _scen(text: str, tmp_path: Path) -> scenario.Scenario:
    return scenario.parse(text, tmp_path / "s.toml")


def test_preflight_memory_ports_and_raw_labels(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MOAT_ROOT", str(tmp_path))  # the default policy compiles under tmp_path/build
    ok = _scen('[[domain]]\nimage = "hello"\nmemory = "1M"\n', tmp_path)
    assert boot.preflight(ok) == []
    big = _scen('[hypervisor]\nmemory = "16M"\n[[domain]]\nname = "huge"\nimage = "hello"\nmemory = "12M"\n',
                tmp_path)
    (problem,) = boot.preflight(big)
    assert "'huge' 12M" in problem and "QEMU's 16M" in problem
    ports = _scen('[[domain]]\nname = "p"\nimage = "hello"\nmax_evtchn = 4097\n', tmp_path)
    assert "domain[0] 'p': max_evtchn = 4097" in boot.preflight(ports)[0]
    raw = _scen('[[domain]]\nname = "r"\nimage = "hello"\nlabel = 0x00630063\n'
                '[[domain]]\nname = "fine"\nimage = "hello"\nlabel = 0x00020002\n', tmp_path)
    (problem,) = boot.preflight(raw)
    assert "domain[0] 'r': label 0x00630063 is not a label of the policy" in problem


def test_preflight_refuses_before_boot_unless_forced(monkeypatch, tmp_path: Path, in_process: InProcess):  # noqa: F811
    root = tmp_path / "root"
    (root / "build" / "hv").mkdir(parents=True)
    (root / "build" / "hv" / "moat.bin").write_bytes(b"\0")
    (root / "build" / "images").mkdir()
    (root / "build" / "images" / "hello.elf").write_bytes((ROOT / "build" / "images" / "hello.elf").read_bytes()
                                                          if (ROOT / "build" / "images" / "hello.elf").is_file()
                                                          else b"")
    if not (root / "build" / "images" / "hello.elf").read_bytes():
        pytest.skip("build/images/hello.elf is not built")
    scen = tmp_path / "s.toml"
    scen.write_text('[[domain]]\nname = "p"\nimage = "hello"\nmax_evtchn = 5000\n')
    args_file = tmp_path / "args"
    install(monkeypatch, tmp_path / "bin", printing(["moat: stop: success"], 1, args_file))
    proc = in_process("run", str(scen), root=root)
    assert proc.returncode == 3 and "max_evtchn = 5000" in proc.stderr and "--force" in proc.stderr
    assert not args_file.exists(), "QEMU must not start"
    assert in_process("run", str(scen), "--force", root=root).returncode == 0
    assert args_file.exists()


def test_explain_errno():
    assert console.explain_errno(-12).startswith("ENOMEM (")
    assert console.explain_line("domain 'x' not created: error -22") is not None
    assert console.explain_line("domain 0 'x' stopped: poweroff") is None


def test_paths_describe_build(tmp_path: Path):
    (tmp_path / "build" / "hv").mkdir(parents=True)
    assert "hypervisor not built" in paths.describe_build(tmp_path)
    (tmp_path / "build" / "hv" / "moat.bin").write_bytes(b"\0\0moat 9.9.9 x86-64 hypervisor\n\0")
    assert "hypervisor 9.9.9 built" in paths.describe_build(tmp_path)


def test_a_misspelt_label_gets_a_suggestion(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MOAT_ROOT", str(tmp_path))
    from moat import manifest
    from moat.errors import UserError

    scen = _scen('[[domain]]\nname = "d"\nimage = "hello"\nlabel = "domu"\n', tmp_path)
    with pytest.raises(UserError, match=r"'domu' is not a VM label of the policy \(did you mean 'domU'\?\)"):
        manifest.records(scen)
