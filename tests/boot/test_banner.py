# SPDX-License-Identifier: MIT
"""The boot banner: version line first, the command line echoed, the modules listed."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from moat import manifest, paths, qemu, scenario
from moat.pytest_plugin import Booter, assert_status

from .console import BANNER, CMDLINE, modules, one


@pytest.fixture(scope="module")
def plain_boot(request: pytest.FixtureRequest) -> qemu.BootResult:
    """One boot with no arguments: the tests that only read its console share it."""
    return Booter(request.node.nodeid, paths.repo_root())()


def test_banner_is_the_first_line(plain_boot):
    result = plain_boot
    assert_status(result, "SUCCESS")
    assert result.lines, "no console output"
    assert BANNER.match(result.lines[0]), f"first line is {result.lines[0]!r}, not the banner"
    assert result.lines[-1] == "moat: stop: success"


def test_cmdline_is_echoed(boot):
    result = boot("console=com1 answer=42 flag")
    assert_status(result, "SUCCESS")
    line = one(result.console, CMDLINE)
    # QEMU's multiboot loader puts the kernel's file name first; the text we passed follows.
    assert line.group(1).rstrip().endswith("console=com1 answer=42 flag"), line.group(0)


def test_without_a_policy_the_hypervisor_refuses_to_run(boot):
    # The MAC policy is mandatory: no policy module, no system.
    result = boot(default_policy=False)
    assert_status(result, "FAILURE")
    assert "modules: 0" in result.lines
    assert any("no security policy module" in line for line in result.lines), result.lines[-5:]


def test_a_boot_without_modules_gets_the_default_policy(plain_boot):
    result = plain_boot
    assert_status(result, "SUCCESS")
    assert "modules: 1" in result.lines
    [policy] = modules(result.console)
    assert policy.cmdline.endswith("policy"), policy
    assert any(line.startswith("mac: policy 'moat-default'") for line in result.lines)


def test_modules_are_listed_with_sizes_and_arguments(boot, tmp_path: Path):
    files = []
    for name, size, args in [("one.bin", 1, "first"), ("page.bin", 4096, "second x=1 y=2"),
                             ("big.bin", 10_000, "")]:
        path = tmp_path / name
        path.write_bytes(bytes(i % 251 for i in range(size)))
        files.append((path, args))
    result = boot("mods", modules=files)
    assert_status(result, "SUCCESS")
    assert "modules: 4" in result.lines  # ours, then the default policy
    listed = modules(result.console)
    assert [m.index for m in listed] == [0, 1, 2, 3]
    assert listed[3].cmdline.endswith("policy"), listed[3]
    listed = listed[:3]
    for mod, (path, args) in zip(listed, files, strict=True):
        assert mod.size == path.stat().st_size, mod
        assert mod.end - mod.start == mod.size, mod
        assert mod.cmdline.split()[0].endswith(path.name), mod
        assert mod.cmdline.endswith(args), mod
    spans = sorted((m.start, m.end) for m in listed)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"modules overlap: {spans}"


def test_more_than_32_modules_keep_the_first_32(boot, tmp_path: Path):
    """The loader's 33rd module and later are ignored, with one line saying so; the policy comes
    first here so that it is among the kept ones."""
    from moat import bootpolicy

    policy = bootpolicy.default_policy(paths.build_dir() / "policies")
    files = [(policy.blob, bootpolicy.POLICY_MODULE_ARGS)]
    for i in range(34):
        path = tmp_path / f"m{i}.bin"
        path.write_bytes(bytes([i]) * 16)
        files.append((path, f"m{i}"))
    result = boot(modules=files)
    assert_status(result, "SUCCESS")
    assert "moat: more than 32 modules; the rest are ignored" in result.lines
    assert "modules: 32" in result.lines
    listed = modules(result.console)
    assert [m.index for m in listed] == list(range(32))
    assert listed[31].cmdline.endswith(" m30"), listed[31]


def test_control_characters_in_a_module_string_are_shown_as_question_marks(boot, tmp_path: Path):
    """A loader string with a line break could forge a console line; each byte outside
    printable ASCII is shown as '?'."""
    path = tmp_path / "ctl.bin"
    path.write_bytes(b"x")
    result = boot(modules=[(path, "a\tb\x1bc\x7fd")])
    assert_status(result, "SUCCESS")
    [mod] = [m for m in modules(result.console) if m.index == 0]
    assert mod.cmdline.endswith(" a?b?c?d"), mod


def test_a_long_policy_name_is_cut_short_on_the_console(boot, tmp_path: Path):
    """The policy's name (up to 1023 bytes, chosen by whoever writes the policy) is printed through
    a 128-byte buffer: 124 of its bytes, then "..." and the NUL."""
    name = "n" * 200
    policy = tmp_path / "long.toml"
    policy.write_text(f"[policy]\nname = \"{name}\"\nversion = \"1.0\"\nbootstrap = \"system\"\n"
                      "[types]\nste = [\"s\"]\nchwall = [\"c\"]\n"
                      "[[vm]]\nname = \"system\"\nste = [\"s\"]\nchwall = [\"c\"]\n")
    scen_path = tmp_path / "s.toml"
    scen_path.write_text(f"policy = '{policy}'\n[[domain]]\nimage = 'hello'\nmemory = '1M'\nlabel = 'system'\n"
                         "cmdline = 'greeting=hello'\n")
    result = boot(modules=manifest.build_boot_modules(scenario.load(scen_path), paths.build_dir()))
    assert_status(result, "SUCCESS")
    want = f"mac: policy '{name[:124]}...' version 1.0: "
    assert any(line.startswith(want) for line in result.lines), [ln for ln in result.lines if "mac: policy" in ln]
