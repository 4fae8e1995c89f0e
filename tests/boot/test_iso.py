# SPDX-License-Identifier: MIT
"""The GRUB rescue ISO boots the same hypervisor to the same banner."""

from __future__ import annotations

from pathlib import Path

from moat import iso, paths
from moat.pytest_plugin import assert_status, skip_or_fail

from .console import BANNER, FRAMES, modules, one


def test_built_iso_boots_to_the_banner(boot, moat_root):
    image = paths.iso_image(moat_root)
    if not image.is_file():
        skip_or_fail(f"{image} is missing (the build skips it without grub-mkrescue)")
    result = boot(cdrom=image)
    assert_status(result, "SUCCESS")
    assert BANNER.match(result.lines[0]), f"first line is {result.lines[0]!r}"
    one(result.console, FRAMES)
    assert any(line.startswith("mac: policy 'moat-default'") for line in result.lines)


def test_per_run_iso_carries_cmdline_and_modules(boot, tmp_path: Path):
    if not iso.have_grub_mkrescue():
        skip_or_fail("grub-mkrescue is missing")
    module = tmp_path / "payload.txt"
    module.write_text("via grub\n")
    result = boot("from=grub", modules=[(module, "k=v")], iso=True)
    assert_status(result, "SUCCESS")
    assert BANNER.match(result.lines[0])
    assert any(line.startswith("cmdline: ") and line.rstrip().endswith("from=grub") for line in result.lines)
    [mod, policy] = modules(result.console)  # ours, then the default policy
    assert mod.size == module.stat().st_size
    assert mod.cmdline.endswith("k=v")
    assert policy.cmdline.endswith("policy"), policy
