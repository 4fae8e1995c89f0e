# SPDX-License-Identifier: MIT
"""moat.iso: the grub.cfg it writes, and a clear error without grub-mkrescue."""

from __future__ import annotations

from pathlib import Path

import pytest

from moat import iso
from moat.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def test_grub_cfg_from_the_template():
    template = (ROOT / "boot" / "grub.cfg.in").read_text()
    cfg = iso.grub_cfg(template, "a=1 b=two", [(Path("/x/hello world.txt"), "k=v"), (Path("m"), "")])
    assert "    multiboot /boot/moat.bin a=1 b=two\n" in cfg
    assert "    module --nounzip /boot/modules/0-hello_world.txt k=v\n" in cfg
    assert "    module --nounzip /boot/modules/1-m\n" in cfg
    assert "set timeout=0" in cfg
    assert "@" not in cfg.replace("SPDX", "")


def test_grub_quoting():
    cfg = iso.grub_cfg("@CMDLINE@", "x='y' $z", [])
    assert cfg == "'x='\\''y'\\''' '$z'"


def test_missing_grub_mkrescue(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="apt-get install grub-pc-bin"):
        iso.make_iso(tmp_path / "x.iso", tmp_path / "k")
